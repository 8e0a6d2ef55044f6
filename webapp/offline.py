"""The installable, offline-reloadable app: its web app manifest and its service worker.

The service worker (``sw.js``, served from ``/`` so that its scope is the whole page)
precaches everything the page loads from this server: the page, PyScript, the Pyodide
runtime, our Python and the static files. Its cache is named by the release: the hash of
every precached URL and the exact bytes this server serves for it, computed once at start.
A changed file is a new release, so a new ``sw.js``: the browser installs it, it fills a
new cache, and on activation deletes the old one. One release's files are never mixed
with another's. The services' API lives on other origins and is never intercepted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
"""What Pyodide fetches to start (it has no package wheels here: nothing else)."""
THEME_COLOR = "#2f5d50"
"""The accent colour of the light theme (static/style.css), for the app window's title bar."""


def manifest() -> dict[str, object]:
    """The web app manifest: what makes Chromium offer to install RusChat as an app window."""
    return {
        "name": "RusChat",
        "short_name": "RusChat",
        "description": "Local, private chat with two small language models",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f7f5",
        "theme_color": THEME_COLOR,
        "icons": [
            {"src": "/static/icons/icon.svg", "sizes": "any", "type": "image/svg+xml"},
            {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
        ],
    }


def precache_urls(static: Path, pyscript: Path) -> list[str]:
    """Every URL the page loads from this server (the service worker's precache list)."""
    urls = ["/", "/pyscript.json", "/manifest.webmanifest", "/favicon.ico", "/py/main.py", "/py/page.zip"]
    urls += [f"/static/{p.relative_to(static).as_posix()}" for p in sorted(static.rglob("*")) if p.is_file()]
    urls += [f"/runtime/pyodide/{name}" for name in PYODIDE_FILES]
    # PyScript's chunks, without the source maps (only devtools asks for those).
    urls += [
        f"/runtime/pyscript/{p.name}"
        for p in sorted(pyscript.iterdir())
        if p.suffix in (".js", ".css") and p.name != "service-worker.js"
    ]
    return urls


def release_version(bodies: Mapping[str, bytes]) -> str:
    """The release's name: a hash of every precached URL and its bytes."""
    digest = hashlib.sha256()
    for url in sorted(bodies):
        digest.update(url.encode() + b"\0" + hashlib.sha256(bodies[url]).digest())
    return digest.hexdigest()[:16]


def service_worker(urls: list[str], get: Callable[[str], bytes]) -> tuple[str, str]:
    """The service worker's source and the release version, from what ``get`` serves for ``urls``."""
    version = release_version({url: get(url) for url in urls})
    source = (HERE / "sw.js").read_text()
    source = source.replace("{{VERSION}}", version).replace("{{PRECACHE}}", json.dumps(urls))
    return source, version
