"""Serves the page, the Python that runs in it, ``shared/``, and the Pyodide/PyScript runtime.

Everything the page loads comes from this server; the page talks to nothing but this
server and the two inference services, which the Content-Security-Policy enforces.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import mimetypes
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request, send_from_directory

import shared
from engine import locations
from engine.config import LOCAL_HOSTS
from engine.http.security import host_name
from webapp import offline
from webapp.snapshot import ensure_snapshot

HERE = Path(__file__).resolve().parent
SHARED = Path(shared.__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
"""The web runtime (npm's ``pyodide`` and ``@pyscript/core``) as ``npm ci`` here installs it."""
SNAPSHOTS = locations.REPO_ROOT / ".cache" / "pyodide"
"""A checkout's snapshot folder; an installed copy's is in the user's cache (engine.locations)."""
SHARED_FILES = (
    "__init__.py",
    "fields.py",
    "schemas.py",
    "responses.py",
    "chunks.py",
    "history.py",
    "sse.py",
    "search.py",
    "importers.py",
    "transfer.py",
    "sidebar.py",
)
PAGE = HERE / "page"
"""The page's Python: the package ``webapp.page``; its ``main.py`` is the page's script."""
VENDORED = ("markdown_it", "mdurl", "pygments")
"""Pure-Python packages the page imports, zipped from this environment's site-packages."""
VENDORED_ONLY = {
    "pygments": (
        *("*.py", "filters/*.py", "styles/__init__.py", "styles/_mapping.py", "styles/default.py"),
        *("formatters/__init__.py", "formatters/_mapping.py", "formatters/html.py"),
        *("lexers/__init__.py", "lexers/_mapping.py", "lexers/python.py", "lexers/javascript.py", "lexers/jsx.py"),
        *("lexers/data.py", "lexers/configs.py", "lexers/html.py", "lexers/css.py", "lexers/_css_builtins.py"),
        *("lexers/sql.py", "lexers/_sql_builtins.py", "lexers/_mysql_builtins.py", "lexers/_postgres_builtins.py"),
        *("lexers/_tsql_builtins.py", "lexers/_googlesql_builtins.py", "lexers/shell.py", "lexers/c_cpp.py"),
        *("lexers/dotnet.py", "lexers/jvm.py", "lexers/go.py", "lexers/rust.py", "lexers/ruby.py"),
        *("lexers/diff.py", "lexers/make.py"),
    ),
}
"""Of these packages only the files matching these patterns: Pygments' core, its HTML
formatter and default style, and the lexers of the page's ``webapp.page.highlight.LANGUAGES`` (with the
modules they import): about 250 KB zipped instead of 1.2 MB. A unit test proves it suffices."""

# Without these, Chromium refuses the module scripts and the wasm, and the page hangs.
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("image/svg+xml", ".svg")


def page_files() -> list[str]:
    """The page package's modules, as paths inside it (``state/chat.py``), sorted: found by
    walking webapp/page/, so a new module needs no list to be written into."""
    return sorted(path.relative_to(PAGE).as_posix() for path in PAGE.rglob("*.py"))


@dataclass(frozen=True)
class WebConfig:
    """The web app's settings."""

    host: str = "127.0.0.1"
    """Address to bind."""
    port: int = 8080
    """Port of the page."""
    fast_url: str = "http://127.0.0.1:8000"
    """Base URL of the fast service (backend_tinyllama)."""
    capable_url: str = "http://127.0.0.1:8001"
    """Base URL of the capable service (backend_qwen)."""
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    """Names accepted in the Host header (DNS-rebinding defence)."""
    api_key: str | None = field(default=None, repr=False)  # never in a log line
    """The services' API key, handed to the page (which sends it on every request)."""
    snapshot: bool = True
    """Serve the page an interpreter snapshot (webapp/snapshot.py), made at start if missing."""
    snapshot_dir: Path = SNAPSHOTS
    """Where the snapshot is kept (that of the current runtime: others are deleted)."""
    snapshot_file: Path | None = None
    """The snapshot made for this runtime; None: the page starts Python itself."""
    runtime_dir: Path = NODE_MODULES
    """The ``node_modules`` folder that holds ``pyodide/`` and ``@pyscript/core/``."""

    @property
    def services(self) -> list[dict[str, str]]:
        return [
            {"id": "tinyllama", "label": "Fast", "url": self.fast_url.rstrip("/")},
            {"id": "qwen", "label": "Capable", "url": self.capable_url.rstrip("/")},
        ]


def config_from_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> WebConfig:
    """The only place that reads the web app's command line and environment."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m webapp", description="RusChat web app server")
    parser.add_argument("--host", default=environ.get("RUSCHAT_WEB_HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(environ.get("RUSCHAT_WEB_PORT") or 8080))
    parser.add_argument("--fast-url", default=environ.get("RUSCHAT_FAST_URL") or "http://127.0.0.1:8000")
    parser.add_argument("--capable-url", default=environ.get("RUSCHAT_CAPABLE_URL") or "http://127.0.0.1:8001")
    parser.add_argument(
        "--api-key",
        default=environ.get("RUSCHAT_API_KEY") or None,
        help="the services' API key, which the page then sends (also RUSCHAT_API_KEY)",
    )
    parser.add_argument(
        "--snapshot",
        choices=("on", "off"),
        default=environ.get("RUSCHAT_WEB_SNAPSHOT") or "on",
        help="restore Python from a snapshot instead of starting it in the page (also RUSCHAT_WEB_SNAPSHOT)",
    )
    parser.add_argument(
        "--snapshot-dir",
        type=Path,
        default=Path(environ.get("RUSCHAT_WEB_SNAPSHOT_DIR") or locations.cache_dir(environ) / "pyodide"),
        help="where snapshots are kept (default .cache/pyodide in a checkout, ~/.cache/ruschat/pyodide when "
        "installed; also RUSCHAT_WEB_SNAPSHOT_DIR)",
    )
    parser.add_argument(
        "--runtime-dir",
        type=Path,
        default=Path(environ.get("RUSCHAT_WEB_RUNTIME_DIR") or NODE_MODULES),
        help="the node_modules folder holding the web runtime, pyodide/ and @pyscript/core/ (default: the "
        "web app's own, made by `npm ci` in its folder; also RUSCHAT_WEB_RUNTIME_DIR)",
    )
    args = parser.parse_args(argv)
    for url in (args.fast_url, args.capable_url):
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            parser.error(f"not an http(s) URL: {url}")
    return WebConfig(
        host=args.host,
        port=args.port,
        fast_url=args.fast_url,
        capable_url=args.capable_url,
        api_key=args.api_key or None,
        snapshot=args.snapshot == "on",
        snapshot_dir=args.snapshot_dir,
        runtime_dir=args.runtime_dir.expanduser(),
    )


def snapshot_url(config: WebConfig) -> str | None:
    """Where the page finds the interpreter snapshot (named by its runtime: never a stale one)."""
    return f"/runtime/{config.snapshot_file.name}" if config.snapshot_file else None


def page_config(config: WebConfig) -> dict[str, object]:
    """The ``ruschat-config`` block of the page: the services, their key if they have one,
    the interpreter snapshot if there is one."""
    return {"services": config.services, "api_key": config.api_key, "snapshot": snapshot_url(config)}


def content_security_policy(config: WebConfig) -> str:
    backends = []
    for service in config.services:
        parts = urlsplit(service["url"])
        ws = "wss" if parts.scheme == "https" else "ws"
        backends += [f"{parts.scheme}://{parts.netloc}", f"{ws}://{parts.netloc}"]
    return "; ".join(
        [
            "default-src 'self'",
            # Pyodide compiles WebAssembly and evaluates code: without 'unsafe-eval' the page
            # never finishes loading (tried).
            "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self' " + " ".join(backends),
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


@lru_cache(maxsize=1)
def vendored_zip() -> bytes:
    """The pure-Python packages the page needs, as one zip PyScript unpacks on load."""
    import importlib.util

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in VENDORED:
            spec = importlib.util.find_spec(package)
            if spec is None or spec.origin is None:
                raise RuntimeError(f"{package} is not installed: run python3 scripts/setup.py")
            folder = Path(spec.origin).parent
            patterns = VENDORED_ONLY.get(package, ("**/*.py",))
            for path in sorted({path for pattern in patterns for path in folder.glob(pattern)}):
                archive.write(path, f"{package}/{path.relative_to(folder)}")
    return buffer.getvalue()


def page_zip() -> bytes:
    """Everything the page's Python imports, as one zip PyScript unpacks on load: the vendored
    packages, the package ``webapp.page`` (all but its script, ``main.py``) and ``shared/``, in
    a fixed order. One request instead of forty (the modules stay served one by one too, under
    /py/ and /shared/, for reading)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(io.BytesIO(vendored_zip())) as vendored:
            for info in vendored.infolist():
                archive.writestr(info, vendored.read(info))
        archive.write(HERE / "__init__.py", "webapp/__init__.py")
        for name in page_files():
            if name != "main.py":
                archive.write(PAGE / name, f"webapp/page/{name}")
        for name in SHARED_FILES:
            archive.write(SHARED / name, f"shared/{name}")
    return buffer.getvalue()


def pyscript_config() -> dict[str, object]:
    # Pyodide, through the module that restores the interpreter snapshot (static/boot.mjs).
    return {"interpreter": "/static/boot.mjs", "files": {"/py/page.zip": "./*"}}


def create_app(config: WebConfig) -> Flask:
    app = Flask(__name__, static_folder=None)
    csp = content_security_policy(config)
    allowed_hosts = set(config.allowed_hosts)
    page = (HERE / "index.html").read_text()
    snapshot = snapshot_url(config)
    preload = f'<link rel="preload" href="{snapshot}" as="fetch" crossorigin>' if snapshot else ""
    page = page.replace("{{SNAPSHOT_PRELOAD}}", preload)  # first: the config may hold any text
    page = page.replace("{{CONFIG}}", json.dumps(page_config(config)).replace("<", "\\u003c"))

    @app.before_request
    def _local_hosts_only() -> None:
        if host_name(request.host) not in allowed_hosts:
            abort(403)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.get("/")
    def index() -> Response:
        return Response(page, mimetype="text/html")

    @app.get("/pyscript.json")
    def config_json() -> Response:
        return Response(json.dumps(pyscript_config()), mimetype="application/json")

    modules = page_zip()  # once: the service worker's release hash covers these very bytes

    @app.get("/py/page.zip")
    def page_modules() -> Response:
        return Response(modules, mimetype="application/zip")

    page_modules_served = set(page_files())

    @app.get("/py/<path:name>")
    def page_python(name: str) -> Response:
        if name not in page_modules_served:
            abort(404)
        return send_from_directory(PAGE, name, mimetype="text/x-python", max_age=0)

    @app.get("/shared/<name>")
    def shared_python(name: str) -> Response:
        if name not in SHARED_FILES:
            abort(404)
        return send_from_directory(SHARED, name, mimetype="text/x-python", max_age=0)

    @app.get("/static/<path:name>")
    def static_file(name: str) -> Response:
        return send_from_directory(HERE / "static", name)

    @app.get("/runtime/pyodide/<path:name>")
    def pyodide_file(name: str) -> Response:
        return send_from_directory(config.runtime_dir / "pyodide", name, max_age=3600)

    @app.get("/runtime/<name>.bin")
    def interpreter_snapshot(name: str) -> Response:
        if config.snapshot_file is None or f"{name}.bin" != config.snapshot_file.name:
            abort(404)
        return send_from_directory(config.snapshot_file.parent, config.snapshot_file.name, max_age=31536000)

    @app.get("/runtime/pyscript/<path:name>")
    def pyscript_file(name: str) -> Response:
        return send_from_directory(config.runtime_dir / "@pyscript" / "core" / "dist", name, max_age=3600)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return send_from_directory(HERE / "static", "favicon.svg", mimetype="image/svg+xml")

    @app.get("/manifest.webmanifest")
    def web_manifest() -> Response:
        return Response(json.dumps(offline.manifest()), mimetype="application/manifest+json")

    install_service_worker(app, config.allowed_hosts[0], config.runtime_dir, [snapshot] if snapshot else [])
    return app


def install_service_worker(app: Flask, host: str, runtime: Path, more: list[str]) -> None:
    """``/sw.js``, its precache list and release version taken from what this app serves
    (asked as ``host``, one of the names it accepts, with the web runtime in ``runtime``);
    ``more``: URLs beyond the fixed files."""
    urls = offline.precache_urls(HERE / "static", runtime / "@pyscript" / "core" / "dist") + more
    worker: dict[str, str] = {}

    @app.get("/sw.js")
    def service_worker() -> Response:
        response = Response(worker["source"], mimetype="text/javascript")
        response.headers["Cache-Control"] = "no-cache"  # a new release is seen at the next visit
        return response

    client = app.test_client()
    base = f"http://{host}"

    def body(url: str) -> bytes:
        with client.get(url, base_url=base) as response:  # closed: files are streamed
            if response.status_code != 200:
                raise RuntimeError(f"{url} answers {response.status_code}: the service worker cannot precache it")
            return response.get_data()

    worker["source"], app.config["RELEASE"] = offline.service_worker(urls, body)


def missing_runtime(runtime: Path, checkout: bool | None = None) -> str | None:
    """Why the page cannot be served from ``runtime`` (and how to get it: ``checkout``, in a
    source checkout or, by default, where this code runs), or None."""
    wanted = [runtime / "pyodide" / "pyodide.mjs", runtime / "@pyscript" / "core" / "dist" / "core.js"]
    absent = [path for path in wanted if not path.is_file()]
    if not absent:
        return None
    how = (
        "run python3 scripts/setup.py"
        if (locations.is_checkout() if checkout is None else checkout)
        else f"run `npm ci --prefix {HERE}` (Node.js' npm installs the versions {HERE / 'package-lock.json'} "
        "pins), or install them elsewhere the same way and pass --runtime-dir DIR/node_modules "
        "(also RUSCHAT_WEB_RUNTIME_DIR)"
    )
    return f"the web runtime (npm's pyodide and @pyscript/core) is not installed: {absent[0]} is missing; {how}"


def main(argv: Sequence[str] | None = None) -> int:
    from engine.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s [webapp] %(levelname)s %(message)s")
    config = config_from_args(argv)
    missing = missing_runtime(config.runtime_dir)
    if missing is not None:
        print(f"error: {missing}", flush=True)
        return 2
    if config.snapshot:
        config = replace(config, snapshot_file=ensure_snapshot(config.runtime_dir / "pyodide", config.snapshot_dir))
    return serve(lambda: create_app(config), config.host, config.port, 16, "ruschat-webapp")
