"""``pip install .``: what pyproject.toml declares (tests/integration/test_install.py builds and runs it)."""

from __future__ import annotations

import importlib
import os
import re
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

import engine
from engine.config import REPO_ROOT
from webapp.server import NODE_MODULES, WebConfig, config_from_args, missing_runtime

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
NOT_SHIPPED = {"tests", "bench", "scripts"}
"""Top-level folders of the checkout that are not part of an installed copy."""
NOT_OURS = {".git", ".venv", ".cache", "node_modules", "__pycache__", "data", "models", "build"}


def our_files() -> list[Path]:
    """The checkout's own files: not the environment, the web runtime, caches or user data."""
    found = []
    for folder, subfolders, files in os.walk(REPO_ROOT):
        subfolders[:] = [name for name in subfolders if name not in NOT_OURS and not name.endswith(".egg-info")]
        found += [Path(folder) / name for name in files]
    return found


def test_the_version_is_written_once_in_engine():
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "engine.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", engine.__version__)


def test_nothing_else_spells_the_version():
    spelled = re.compile(rf"""(version|__version__)["']?\s*[:=]\s*["']{re.escape(engine.__version__)}["']""")
    found = [
        path.relative_to(REPO_ROOT)
        for path in our_files()
        if path.suffix in (".py", ".toml", ".json", ".cfg", ".js", ".mjs", ".html")
        and path.relative_to(REPO_ROOT).parts[0] != "tests"  # test data may spell any version
        and path.name != "package-lock.json"  # npm's record of other packages' versions
        and spelled.search(path.read_text(errors="replace"))
    ]
    assert found == [Path("engine/__init__.py")]


def test_the_runtime_dependencies_are_requirements_txt():
    assert "dependencies" not in PYPROJECT["project"] and "dependencies" in PYPROJECT["project"]["dynamic"]
    assert SETUPTOOLS["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    lines = [line.split("#")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    # setuptools reads the file as plain requirements: no pip options (-r, -e, --index-url).
    assert requirements and not [line for line in requirements if line.startswith("-")]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.]*", r) for r in requirements)
    assert "-r requirements.txt" in (REPO_ROOT / "requirements-dev.txt").read_text().splitlines()


def test_every_package_of_the_checkout_is_shipped_but_tests_bench_and_scripts():
    find = SETUPTOOLS["packages"]["find"]
    shipped = set(find_packages(str(REPO_ROOT), include=find["include"]))
    every = {".".join(path.parent.relative_to(REPO_ROOT).parts) for path in our_files() if path.name == "__init__.py"}
    assert "engine.http" in shipped and "webapp" in shipped and "shared" in shipped
    assert shipped == {name for name in every if name.split(".")[0] not in NOT_SHIPPED}


def test_every_file_the_web_app_serves_is_package_data():
    webapp = REPO_ROOT / "webapp"
    listed = {path for pattern in SETUPTOOLS["package-data"]["webapp"] for path in webapp.glob(pattern)}
    modules = set(webapp.rglob("*.py"))  # the packages' own modules (webapp, webapp.page.*): code, not data
    wanted = {path for path in our_files() if webapp in path.parents and path not in modules}
    assert (webapp / "index.html") in wanted and (webapp / "static" / "icons" / "icon.svg") in wanted
    assert wanted <= listed, sorted(str(p.relative_to(webapp)) for p in wanted - listed)
    assert not [p for p in listed if "node_modules" in p.parts]


@pytest.mark.parametrize("name", ["ruschat", "ruschat-fast", "ruschat-capable", "ruschat-web"])
def test_each_console_script_names_a_function(name: str):
    module, function = PYPROJECT["project"]["scripts"][name].split(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_the_web_runtime_folder_is_an_option(tmp_path: Path):
    assert config_from_args([], environ={}).runtime_dir == NODE_MODULES == WebConfig().runtime_dir
    assert config_from_args(["--runtime-dir", str(tmp_path)], environ={}).runtime_dir == tmp_path
    assert config_from_args([], environ={"RUSCHAT_WEB_RUNTIME_DIR": str(tmp_path)}).runtime_dir == tmp_path


def test_a_missing_web_runtime_says_how_to_get_it(tmp_path: Path):
    assert missing_runtime(NODE_MODULES) is None
    installed = missing_runtime(tmp_path, checkout=False)
    assert installed is not None and str(tmp_path / "pyodide" / "pyodide.mjs") in installed
    assert "npm ci --prefix" in installed and "--runtime-dir" in installed
    in_checkout = missing_runtime(tmp_path, checkout=True)
    assert in_checkout is not None and "python3 scripts/setup.py" in in_checkout
