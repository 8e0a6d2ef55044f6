"""The web app manifest and the service worker's precache list and release version."""

from __future__ import annotations

import io
import json
import struct
import zipfile

from webapp import offline
from webapp.server import PAGE_FILES, SHARED_FILES, WebConfig, create_app


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
    assert {name for name in PAGE_FILES if name != "main.py"} | {f"shared/{name}" for name in SHARED_FILES} <= names
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


def test_every_shared_module_the_page_imports_is_served_to_it():
    import re

    from webapp.server import HERE, SHARED

    sources = [HERE / "py" / name for name in PAGE_FILES] + [SHARED / name for name in SHARED_FILES]
    found = (re.findall(r"^\s*from shared\.(\w+) import", path.read_text(), re.M) for path in sources)
    imported = {module for modules in found for module in modules}
    assert imported and {f"{m}.py" for m in imported} <= set(SHARED_FILES)
