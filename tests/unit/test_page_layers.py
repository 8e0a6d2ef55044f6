"""The page's layers, pinned: what each part of webapp.page may import, and who talks to the services.

Data flows one way (event -> action -> state -> view): the state knows nothing of the
browser, the views draw it and never call the services, the service client knows nothing
of the views or the actions, and only ``api/endpoints.py`` spells out a path of the API.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support import imports
from webapp.server import PAGE

PARTS = ("state", "api", "actions", "views")
# What each part may import of the page (besides itself, shared/ and the standard library).
ALLOWED = {
    "state": set(),
    "api": {"state"},
    "views": {"state", "dom", "markdown", "highlight"},
    "actions": {"state", "api", "views", "dom", "a11y", "markdown"},
}
BROWSER = ("js", "pyodide")


def page_part(module: str) -> str | None:
    """``webapp.page.state.chat`` -> ``state``; ``webapp.page.dom`` -> ``dom``."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["webapp", "page"] and len(parts) > 2 else None


def test_every_part_is_a_package_with_modules():
    for part in PARTS:
        assert (PAGE / part / "__init__.py").is_file() and len(list((PAGE / part).glob("*.py"))) > 1


@pytest.mark.parametrize("part", PARTS)
def test_each_part_imports_only_the_parts_below_it(part):
    for path in sorted((PAGE / part).glob("*.py")):
        used = {page_part(module) for module in imports(path)} - {None, part}
        assert used <= ALLOWED[part], f"{path.relative_to(PAGE)} imports {used - ALLOWED[part]}"


def test_the_state_runs_without_a_browser():
    for path in sorted((PAGE / "state").glob("*.py")):
        browser = {m for m in imports(path) if m.split(".")[0] in BROWSER}
        assert not browser, f"{path.relative_to(PAGE)} imports {browser}"


def speaks_to_services(path: Path) -> bool:
    """Whether the module's code (not its docstrings) holds an API path or calls fetch or WebSocket."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    for node in ast.walk(tree):
        code_text = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        if code_text and re.search(r"(^|/)(api|v1|ws)/|/healthz", node.value):
            return True
        if isinstance(node, ast.Attribute) and node.attr in ("fetch", "WebSocket"):
            return True
    return False


def test_only_the_service_client_spells_out_paths_of_the_api_or_opens_connections():
    speaking = sorted(path.relative_to(PAGE).as_posix() for path in PAGE.rglob("*.py") if speaks_to_services(path))
    # endpoints.py: every path; http.py: fetch; services.py: the status WebSocket.
    assert speaking == ["api/endpoints.py", "api/http.py", "api/services.py"]


def test_the_readme_describes_every_module_of_the_page():
    readme = (PAGE.parents[1] / "README.md").read_text()
    tree = readme.split("\n   page/ ", 1)[1].split("\n shared/ ", 1)[0]  # the Architecture's page block
    described = re.findall(r"^ {6,}(\w+\.py) ", tree, re.M)
    modules = [path.name for path in PAGE.rglob("*.py") if path.name != "__init__.py"]
    missing = {name for name in modules if described.count(name) < modules.count(name)}
    assert not missing, f"README.md's Architecture lacks a line for {sorted(missing)}"
