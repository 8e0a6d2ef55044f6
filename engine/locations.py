"""Where RusChat keeps its files: beside the code in a checkout, in per-user folders when installed.

A checkout (``scripts/run_all.py`` and ``pyproject.toml`` beside the packages) keeps its
history in ``data/``, its models in ``models/`` and its caches in ``.cache/``, as ever. An
installed copy (``pip install .``) lives in site-packages, which is no place for a user's
chats: it keeps them in ``$XDG_DATA_HOME/ruschat/`` (``~/.local/share/ruschat/``: ``data/``
and ``models/``, the checkout's layout) and its caches in ``$XDG_CACHE_HOME/ruschat/``
(``~/.cache/ruschat/``). ``RUSCHAT_DATA_DIR`` and ``RUSCHAT_MODELS_DIR`` override either.

Standard library only: ``scripts/run_all.py`` imports it (through engine.launcher) before
the .venv exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The folder that holds the packages: the checkout, or site-packages when installed."""


def is_checkout(root: Path = REPO_ROOT) -> bool:
    """Whether the code runs from a source checkout rather than an installed package."""
    return (root / "pyproject.toml").is_file() and (root / "scripts" / "run_all.py").is_file()


def _user_folder(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    base = environ.get(variable) or str(Path(environ.get("HOME") or Path.home()) / fallback)
    return Path(base) / "ruschat"


def _data_folder(environ: Mapping[str, str], variable: str, root: Path, name: str) -> Path:
    """``variable`` if set, else ``name`` beside a checkout, else in the user's data folder."""
    if environ.get(variable):
        return Path(environ[variable])
    if is_checkout(root):
        return root / name
    return _user_folder(environ, "XDG_DATA_HOME", ".local/share") / name


def data_dir(environ: Mapping[str, str], root: Path = REPO_ROOT) -> Path:
    """Databases, saved KV caches and logs (``RUSCHAT_DATA_DIR``)."""
    return _data_folder(environ, "RUSCHAT_DATA_DIR", root, "data")


def models_dir(environ: Mapping[str, str], root: Path = REPO_ROOT) -> Path:
    """The GGUF files (``RUSCHAT_MODELS_DIR``)."""
    return _data_folder(environ, "RUSCHAT_MODELS_DIR", root, "models")


def cache_dir(environ: Mapping[str, str], root: Path = REPO_ROOT) -> Path:
    """Files that can be made again (the page's interpreter snapshot)."""
    if is_checkout(root):
        return root / ".cache"
    return _user_folder(environ, "XDG_CACHE_HOME", ".cache")
