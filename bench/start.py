"""How long the page takes to start, and where the time goes (``python -m bench --only start``).

Both services and the web app run as in the browser tests; headless Chromium loads the page
``runs`` times cold (a fresh profile each time: no HTTP cache, no service worker, no
compiled WebAssembly) and ``runs`` times warm (one profile, after a first load installed the
service worker). Each load reads the browser's own clock (Navigation and Resource Timing,
and the marks the page sets: ``ruschat:python`` when our Python starts, ``ruschat:imported``
after the page's imports, ``ruschat:ready`` with ``data-ready``) and splits navigation ->
ready into phases. Medians of the runs are reported. The same loads, in turns, go to a
second web app started with ``--snapshot off`` (Python started in the page rather than
restored from the interpreter snapshot, webapp/snapshot.py): the ratio compares one run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from selenium import webdriver

from tests.browser.conftest import new_chromium, running_stack, web_process
from webapp.offline import PYODIDE_FILES

TIMES = r"""
const mark = (name) => { const m = performance.getEntriesByName(name, "mark")[0]; return m ? m.startTime : null; };
const resources = performance.getEntriesByType("resource");
const end = (suffix) => Math.max(
  0, ...resources.filter((r) => r.name.split("?")[0].endsWith(suffix)).map((r) => r.responseEnd));
const ours = resources.filter((r) => /\/(py|shared)\//.test(new URL(r.name).pathname));
const paint = performance.getEntriesByName("first-contentful-paint")[0];
return {
  fcp: paint ? paint.startTime : null,
  pyscript: end("/runtime/pyscript/core.js"),
  runtime: Math.max(...arguments[0].map((name) => end("/runtime/pyodide/" + name))),
  files_start: Math.min(...ours.map((r) => r.startTime)),
  files_end: Math.max(...ours.map((r) => r.responseEnd)),
  python: mark("ruschat:python"),
  imported: mark("ruschat:imported"),
  ready: mark("ruschat:ready"),
  bytes: resources.reduce((sum, r) => sum + (r.transferSize || 0), 0),
  from_worker: resources.filter((r) => r.workerStart > 0).length,
  resources: resources.length,
};
"""
CONTROLLED = "return !!(navigator.serviceWorker && navigator.serviceWorker.controller)"


def wait(driver: webdriver.Chrome, script: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for: {script}")
        time.sleep(0.02)


def load(driver: webdriver.Chrome, url: str) -> dict[str, Any]:
    """One load of the page, its phases in ms from navigation start."""
    driver.get("about:blank")
    driver.get(url)
    wait(driver, "return document.body && document.body.dataset.ready === 'true'")
    raw = driver.execute_script(TIMES, list(PYODIDE_FILES))
    phases = {
        "first_paint_ms": raw["fcp"],
        "pyscript_loaded_ms": raw["pyscript"],
        "runtime_loaded_ms": raw["runtime"],
        "files_requested_ms": raw["files_start"],
        "files_loaded_ms": raw["files_end"],
        "python_started_ms": raw["python"],
        "imported_ms": raw["imported"],
        "ready_ms": raw["ready"],
    }
    return {
        **{k: round(v, 1) if v is not None else None for k, v in phases.items()},
        "kb_transferred": round(raw["bytes"] / 1024),
        "from_service_worker": raw["from_worker"],
        "requests": raw["resources"],
    }


def median(loads: list[dict[str, Any]]) -> dict[str, Any]:
    keys = loads[0].keys()
    return {k: round(statistics.median(x[k] for x in loads if x[k] is not None), 1) for k in keys}


def cold_load(url: str) -> dict[str, Any]:
    """A load in a fresh profile: no HTTP cache, no service worker, no compiled WebAssembly."""
    with tempfile.TemporaryDirectory(prefix="ruschat-bench-chromium-") as profile:
        driver = new_chromium(Path(profile))
        try:
            return load(driver, url)
        finally:
            driver.quit()


def start(folder: Path, runs: int = 5) -> dict[str, Any]:
    """Cold and warm loads of the page as served (with the interpreter snapshot) and of the
    same page from a second web app started with ``--snapshot off``, taken in turns."""
    with running_stack(folder) as stack:
        plain = web_process(folder / "web-plain.log", stack.fast.url, stack.capable.url, "--snapshot", "off")
        plain.start()
        try:
            pages = {"snapshot": stack.web, "no_snapshot": plain}
            urls = {kind: web.url.replace("127.0.0.1", "localhost") + "/" for kind, web in pages.items()}
            cold: dict[str, list[dict[str, Any]]] = {kind: [] for kind in urls}
            warm: dict[str, list[dict[str, Any]]] = {kind: [] for kind in urls}
            for _ in range(runs):
                for kind, url in urls.items():
                    cold[kind].append(cold_load(url))
            with tempfile.TemporaryDirectory(prefix="ruschat-bench-chromium-") as profile:
                driver = new_chromium(Path(profile))  # one profile: each origin has its own worker
                try:
                    for url in urls.values():
                        load(driver, url)  # installs the service worker
                        wait(driver, CONTROLLED)
                        time.sleep(1)  # let it finish precaching before the first measured load
                    for _ in range(runs):
                        for kind, url in urls.items():
                            warm[kind].append(load(driver, url))
                finally:
                    driver.quit()
        finally:
            plain.stop()
    result: dict[str, Any] = {"runs": runs}
    for kind in urls:
        result[kind] = {"cold": median(cold[kind]), "warm": median(warm[kind])}
        result[kind] |= {"cold_loads": cold[kind], "warm_loads": warm[kind]}
    return result


PHASES = (
    ("first paint (static shell)", "first_paint_ms", None),
    ("PyScript loaded", "pyscript_loaded_ms", None),
    ("runtime files loaded", "runtime_loaded_ms", None),
    ("interpreter up, our files asked for", "files_requested_ms", "runtime_loaded_ms"),
    ("our files loaded (page.zip: the page, shared/, vendored)", "files_loaded_ms", "files_requested_ms"),
    ("our Python starts", "python_started_ms", "files_loaded_ms"),
    ("page modules imported", "imported_ms", "python_started_ms"),
    ("data-ready (services probed, history drawn)", "ready_ms", "imported_ms"),
)


COLUMNS = (("snapshot", "warm"), ("snapshot", "cold"), ("no_snapshot", "warm"), ("no_snapshot", "cold"))


def rows(result: dict[str, Any]) -> list[str]:
    """A Markdown table: each phase's end (and its own duration), warm and cold medians, with
    the interpreter snapshot and without it; then ready's ratio, without / with."""
    lines = [
        "| phase | snapshot, warm: at (took) | snapshot, cold | no snapshot, warm | no snapshot, cold |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key, since in PHASES:
        cells = []
        for page, kind in COLUMNS:
            at = result[page][kind][key]
            took = f" ({at - result[page][kind][since]:.0f})" if since else ""
            cells.append(f"{at:.0f} ms{took}")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    sizes = [f"{result[page][kind]['kb_transferred']:.0f} KB" for page, kind in COLUMNS]
    lines.append(f"| transferred | {' | '.join(sizes)} |")
    for kind in ("warm", "cold"):
        ratio = result["no_snapshot"][kind]["ready_ms"] / result["snapshot"][kind]["ready_ms"]
        lines.append(f"\n{kind}: ready {ratio:.2f}x sooner with the snapshot")
    return lines
