"""Where the files go: beside the code in a checkout, per user when installed, or where the variables say."""

from __future__ import annotations

from pathlib import Path

from engine import locations
from engine.config import REPO_ROOT


def checkout(root: Path) -> Path:
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "run_all.py").write_text("")
    (root / "pyproject.toml").write_text("")
    return root


def test_this_repository_is_a_checkout_and_keeps_its_files_beside_the_code():
    assert locations.is_checkout() and locations.REPO_ROOT == REPO_ROOT
    assert locations.data_dir({}) == REPO_ROOT / "data"
    assert locations.models_dir({}) == REPO_ROOT / "models"
    assert locations.cache_dir({}) == REPO_ROOT / ".cache"


def test_a_checkout_is_told_apart_from_site_packages(tmp_path: Path):
    assert locations.is_checkout(checkout(tmp_path / "repo"))
    assert not locations.is_checkout(tmp_path / "site-packages")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "pyproject.toml").write_text("")  # a pyproject alone is not our checkout
    assert not locations.is_checkout(tmp_path / "half")


def test_an_installed_copy_keeps_its_files_in_the_users_folders(tmp_path: Path):
    installed = tmp_path / "site-packages"
    environ = {"XDG_DATA_HOME": str(tmp_path / "share"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert locations.data_dir(environ, installed) == tmp_path / "share" / "ruschat" / "data"
    assert locations.models_dir(environ, installed) == tmp_path / "share" / "ruschat" / "models"
    assert locations.cache_dir(environ, installed) == tmp_path / "cache" / "ruschat"
    home = {"HOME": str(tmp_path / "home")}
    assert locations.data_dir(home, installed) == tmp_path / "home" / ".local" / "share" / "ruschat" / "data"
    assert locations.cache_dir(home, installed) == tmp_path / "home" / ".cache" / "ruschat"


def test_the_variables_win_in_a_checkout_and_installed(tmp_path: Path):
    environ = {"RUSCHAT_DATA_DIR": str(tmp_path / "d"), "RUSCHAT_MODELS_DIR": str(tmp_path / "m")}
    for root in (checkout(tmp_path / "repo"), tmp_path / "site-packages"):
        assert locations.data_dir(environ, root) == tmp_path / "d"
        assert locations.models_dir(environ, root) == tmp_path / "m"
