"""The page's interpreter snapshot: Python already started, restored instead of started.

Starting Pyodide (its interpreter and the standard library's first imports) took 1.6 s of
a warm page load and 2.4 s of a cold one here, more than everything else the page does.
Pyodide can instead restore a copy of its WebAssembly memory taken after that start
(``loadPyodide({_loadSnapshot})``, the mechanism Cloudflare's Python Workers use): 0.3-0.4 s.

The snapshot is made once per runtime in Node (``snapshot.mjs``), which runs the very same
``pyodide.asm.wasm`` as the browser, and kept under ``.cache/pyodide/``. Its file name is a
hash of the runtime files, the script and the imported modules, so a new Pyodide gets a new
snapshot, never a stale one; Pyodide itself refuses a snapshot of another build or a file
that is not one (it checks the header only: the file is written aside and renamed, never
left half written). The page (``static/boot.mjs``) falls back to starting Python when there
is none or it fails.

What the snapshot freezes: the state of ``random`` (the page seeds it again after restoring),
the string hash seed (the same on every load: the page keeps no secrets in dict order),
and ``time.timezone``/``time.tzname`` of the machine that made it (Pyodide has no
``time.tzset``; the page takes local time from the browser's ``Date``).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "snapshot.mjs"
RUNTIME = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
PREIMPORTS = ("datetime", "html", "html.entities", "ipaddress", "urllib.parse", "uuid", "encodings.cp437")
"""Standard-library modules the page imports that a started Pyodide has not imported yet
(found by comparing ``sys.modules`` at ``data-ready`` with a fresh interpreter's)."""
TIMEOUT = 120
"""Seconds Node may take to make one (about 2.5 s here)."""

log = logging.getLogger(__name__)


def snapshot_name(pyodide: Path) -> str:
    """The snapshot's file name for this runtime, script and module list."""
    digest = hashlib.sha256()
    for path in [*(pyodide / name for name in RUNTIME), SCRIPT]:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(" ".join(PREIMPORTS).encode())
    return f"pyodide-{digest.hexdigest()[:16]}.bin"


def ensure_snapshot(pyodide: Path, folder: Path, node: str | None = None) -> Path | None:
    """The snapshot for ``pyodide`` in ``folder``, made first if missing; None (and a
    warning saying why) when it cannot be made: the page then starts Python itself."""
    path = folder / snapshot_name(pyodide)
    if path.is_file():
        return path
    node = node or shutil.which("node")
    if node is None:
        log.warning("no interpreter snapshot: Node.js is not installed (the page starts about 1.2 s slower)")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    command = [node, str(SCRIPT), str(pyodide), str(path), *PREIMPORTS]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("no interpreter snapshot: %s", error)
        return None
    if done.returncode != 0 or not path.is_file():
        log.warning("no interpreter snapshot: node exited %s: %s", done.returncode, done.stderr.strip()[-500:])
        return None
    log.info("made the interpreter snapshot %s", path)
    forget_others(folder, keep=path)
    return path


def forget_others(folder: Path, keep: Path) -> None:
    """Delete earlier runtimes' snapshots (never served again) and what a Node process that
    was stopped midway left; not the files of one making a snapshot right now."""
    stale = time.time() - TIMEOUT
    for other in folder.glob("pyodide-*.bin*"):
        if other != keep and (other.suffix == ".bin" or other.stat().st_mtime < stale):
            other.unlink(missing_ok=True)
