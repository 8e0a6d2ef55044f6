"""The engine's layers, pinned: what each subpackage may import, and who writes SQL.

HTTP (engine/http) sits on the chat turn (engine/chat), which sits on the scheduler, the
store and inference; the lower layers know nothing of Flask, and only engine/store talks
to the database.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import imports

ENGINE = Path(__file__).resolve().parents[2] / "engine"
LAYERS = ("http", "chat", "scheduling", "inference", "store", "cpu")
# Which engine subpackages each may import (besides itself, shared/ and the standard library).
ALLOWED = {
    "http": {"chat", "scheduling", "inference", "store", "cpu", "service", "config", "options", "__version__"},
    "chat": {"scheduling", "inference", "store", "service"},
    "scheduling": {"inference", "cpu"},
    "inference": set(),
    "store": set(),
    "cpu": set(),
}
WEB = ("flask", "flask_cors", "flask_sock", "werkzeug", "gunicorn")


def modules(layer: str) -> list[Path]:
    return sorted((ENGINE / layer).glob("*.py"))


def engine_part(module: str) -> str | None:
    """``engine.store.storage`` -> ``store``; ``engine.service`` -> ``service``."""
    parts = module.split(".")
    return parts[1] if parts[0] == "engine" and len(parts) > 1 else None


def test_every_engine_module_lives_in_a_layer_or_is_the_top_of_the_engine():
    top = {p.stem for p in ENGINE.glob("*.py")}
    assert top == {"__init__", "app", "config", "launcher", "locations", "options", "server", "service"}
    assert {p.name for p in ENGINE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_the_layers_below_it(layer: str):
    wrong = {
        f"{path.name}: {module}"
        for path in modules(layer)
        for module in imports(path)
        if (part := engine_part(module)) is not None and part != layer and part not in ALLOWED[layer]
    }
    assert not wrong, f"engine/{layer} imports beyond its layer: {sorted(wrong)}"


@pytest.mark.parametrize("layer", [layer for layer in LAYERS if layer != "http"])
def test_only_the_http_layer_knows_flask(layer: str):
    web = {f"{p.name}: {m}" for p in modules(layer) for m in imports(p) if m.split(".")[0] in WEB}
    assert not web, f"engine/{layer} imports the web framework: {sorted(web)}"


def test_only_the_store_talks_to_the_database():
    for path in [*ENGINE.glob("*.py"), *(p for layer in LAYERS if layer != "store" for p in modules(layer))]:
        database = {m for m in imports(path) if m.split(".")[0] == "sqlalchemy"}
        # sqlalchemy.engine.make_url only prints the database's URL without its password.
        assert database <= {"sqlalchemy.engine", "sqlalchemy.engine.make_url"}, (path, database)


def test_no_engine_module_imports_the_page_or_a_backend():
    for path in ENGINE.rglob("*.py"):
        outside = {m for m in imports(path) if m.split(".")[0] in ("webapp", "backend_qwen", "backend_tinyllama")}
        assert not outside, (path, outside)


def architecture_map() -> str:
    readme = (ENGINE.parent / "README.md").read_text()
    start = readme.index("## Architecture")
    return readme[start : readme.index("\n## ", start + 1)]


@pytest.mark.parametrize("package", ["engine", "shared"])
def test_the_readme_map_names_every_module(package: str):
    described = architecture_map()
    missing = [
        str(path.relative_to(ENGINE.parent))
        for path in sorted((ENGINE.parent / package).rglob("*.py"))
        if path.name != "__init__.py" and f"{path.name} " not in described and f"{path.name}," not in described
    ]
    assert not missing, f"README's Architecture map misses {missing}"


@pytest.mark.parametrize("package", ["engine", "shared"])
def test_every_module_says_what_it_is_for_and_stays_short(package: str):
    for path in sorted((ENGINE.parent / package).rglob("*.py")):
        source = path.read_text()
        assert ast.get_docstring(ast.parse(source)), f"{path} has no module docstring"
        assert source.count("\n") <= 420, f"{path} has {source.count(chr(10))} lines: split it"
