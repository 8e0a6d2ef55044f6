"""The web app manifest and the service worker's precache list and release version."""

from __future__ import annotations

import io
import json
import struct
import zipfile

from tests.support import imports
from webapp import offline
from webapp.server import PAGE, SHARED, SHARED_FILES, WebConfig, create_app, page_files, page_zip


def test_the_release_version_changes_with_any_precached_byte_or_url():
    bodies = {"/": b"<html>", "/py/main.py": b"print(1)"}
    version = offline.release_version(bodies)
    assert version == offline.release_version(dict(reversed(bodies.items())))  # order does not matter
    assert version != offline.release_version({**bodies, "/py/main.py": b"print(2)"})
    assert version != offline.release_version({**bodies, "/py/other.py": b""})


def test_the_service_worker_precaches_the_page_runtime_and_python_and_names_its_cache_by_release():
    client = create_app(WebConfig()).test_client()
    response = client.get("/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    source = response.get_data(as_text=True)
    urls = json.loads(source.split("const PRECACHE = ", 1)[1].split(";\n", 1)[0])
    version = source.split('const VERSION = "', 1)[1].split('"', 1)[0]
    assert len(version) == 16 and "{{" not in source
    for needed in (
        "/",
        "/pyscript.json",
        "/py/main.py",
        "/py/page.zip",
        "/runtime/pyscript/core.js",
        "/static/a11y.css",
    ):
        assert needed in urls
    # The page's Python comes in one zip: its modules, shared/ and the vendored packages.
    assert client.get("/pyscript.json").get_json()["files"] == {"/py/page.zip": "./*"}
    with zipfile.ZipFile(io.BytesIO(client.get("/py/page.zip").get_data())) as archive:
        names = set(archive.namelist())
    assert {"webapp/page/state/app.py", "shared/schemas.py"} <= names
    assert {"markdown_it/__init__.py", "pygments/__init__.py"} <= names
    assert {f"/runtime/pyodide/{name}" for name in offline.PYODIDE_FILES} <= set(urls)
    assert not [url for url in urls if url.endswith(".map")]
    with client.get("/runtime/pyodide/pyodide.asm.wasm") as wasm:
        assert wasm.mimetype == "application/wasm"


def test_another_configuration_is_another_release():
    first = create_app(WebConfig()).test_client().get("/sw.js").get_data(as_text=True)
    other = create_app(WebConfig(fast_url="http://127.0.0.1:9000")).test_client().get("/sw.js").get_data(as_text=True)
    assert first != other  # the page carries the services' URLs


def test_the_manifest_makes_the_app_installable_with_icons_that_exist():
    client = create_app(WebConfig()).test_client()
    response = client.get("/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json()
    assert manifest["name"] == "RusChat" and manifest["display"] == "standalone" and manifest["start_url"] == "/"
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as served:
            assert served.status_code == 200 and served.mimetype == icon["type"]
            if icon["type"] == "image/png":
                width, height = struct.unpack(">II", served.get_data()[16:24])  # the PNG's IHDR
                assert f"{width}x{height}" == icon["sizes"]
    assert b'rel="manifest"' in client.get("/").get_data()


def test_the_page_zip_holds_the_whole_page_package_and_shared_and_nothing_else_of_ours():
    with zipfile.ZipFile(io.BytesIO(page_zip())) as archive:
        names = archive.namelist()
    ours = [name for name in names if name.split("/")[0] in ("webapp", "shared")]
    walked = [f"webapp/page/{path.relative_to(PAGE).as_posix()}" for path in sorted(PAGE.rglob("*.py"))]
    # main.py is the page's script (/py/main.py), not a module it imports.
    expected = ["webapp/__init__.py", *sorted(set(walked) - {"webapp/page/main.py"})]
    assert ours == expected + [f"shared/{name}" for name in SHARED_FILES]
    assert page_files() == sorted(name.removeprefix("webapp/page/") for name in walked)
    for folder in {path.parent for path in PAGE.rglob("*.py")}:
        assert (folder / "__init__.py").is_file(), f"{folder} is not a package: Pyodide could not import it"
    assert page_zip() == page_zip()  # the service worker's release hash covers these bytes


def test_every_module_of_ours_the_page_imports_is_in_its_zip():
    with zipfile.ZipFile(io.BytesIO(page_zip())) as archive:
        shipped = {name for name in archive.namelist() if name.endswith(".py")}
    sources = [PAGE / name for name in page_files()] + [SHARED / name for name in SHARED_FILES]
    # ``from webapp.page.views import sidebar`` imports a module; ``from x import name`` does not.
    imported = {module for path in sources for module in imports(path)}
    ours = {module for module in imported if module.split(".")[0] in ("webapp", "shared")}

    def is_module(dotted: str) -> bool:
        path = SHARED.parent / dotted.replace(".", "/")
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    needed = {module for module in ours if is_module(module)}
    modules = {name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in shipped}
    assert "webapp.page.views.sidebar" in needed and needed <= modules, needed - modules
    assert "webapp.server" not in ours and "webapp.offline" not in ours  # the server's side stays out


def test_the_page_modules_are_served_one_by_one_for_reading():
    client = create_app(WebConfig()).test_client()
    for name in page_files():
        with client.get(f"/py/{name}") as served:
            assert served.status_code == 200 and served.get_data() == (PAGE / name).read_bytes()
    assert client.get("/py/../server.py").status_code == 404
    assert client.get("/py/state/__pycache__/app.cpython-311.pyc").status_code == 404
