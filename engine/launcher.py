"""Starts RusChat whole: both inference services and the web app, supervised.

    ruschat                 # an installed copy (pip install .); then open http://localhost:8080

The three processes' output is shown prefixed with their name and kept in
<data-dir>/logs/; one that crashes is restarted with backoff; Ctrl-C or SIGTERM stops all
of them. ``scripts/run_all.py`` is the same after its setup step, with the checkout's
.venv. Standard library only: run_all imports it before the .venv exists.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from engine import locations

READY_TIMEOUT = 120.0
BACKOFF_MAX = 30.0
HEALTHY_RESET = 60.0
"""A child that stayed up this long starts its backoff afresh on its next crash."""

Say = Callable[[str], None]


def log(name: str, message: str) -> None:
    print(f"[{name}] {message}", flush=True)


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not Linux/glibc
    _LIBC = None


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the launcher itself dies, even by SIGKILL.

    libc is loaded beforehand: after a fork, only a plain call is safe.
    """
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


class Child:
    """One supervised process: started, watched, restarted, stopped."""

    def __init__(
        self, name: str, command: list[str], url: str, ready_path: str, log_dir: Path, cwd: Path | None = None
    ) -> None:
        self.name, self.command, self.url, self.ready_path, self.cwd = name, command, url, ready_path, cwd
        self.log_file = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.backoff = 1.0
        self.restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.started_at = time.monotonic()
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[bytes] | None) -> None:
        assert stream is not None
        with self.log_file.open("ab") as file:
            for line in iter(stream.readline, b""):
                file.write(line)
                file.flush()
                sys.stdout.write(f"[{self.name}] {line.decode(errors='replace')}")
                sys.stdout.flush()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def end_orphans(self) -> None:
        """A server killed outright leaves its worker behind, holding the port: end it."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the service and its gunicorn worker
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        except ProcessLookupError:
            pass


def wait_ready(children: list[Child], stop: threading.Event, say: Say) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = list(children)
    while waiting and not stop.is_set():
        for child in list(waiting):
            if not child.alive():
                say(
                    f"{child.name} exited during startup (code {child.proc.returncode if child.proc else '?'}); "
                    f"see {child.log_file}"
                )
                return False
            if child.ready():
                say(f"{child.name} is ready at {child.url}")
                waiting.remove(child)
        if time.monotonic() > deadline:
            say(f"not ready after {READY_TIMEOUT:.0f} s: {', '.join(c.name for c in waiting)}")
            return False
        stop.wait(0.2)
    return not waiting


def supervise(children: list[Child], stop: threading.Event, say: Say) -> None:
    """Restart crashed children with exponential backoff until asked to stop."""
    while not stop.wait(0.5):
        now = time.monotonic()
        for child in children:
            if child.alive():
                if child.restart_at is None and now - child.started_at > HEALTHY_RESET:
                    child.backoff = 1.0
                continue
            if child.restart_at is None:
                code = child.proc.returncode if child.proc else None
                say(f"{child.name} exited with code {code}; restarting in {child.backoff:.0f} s")
                child.end_orphans()
                child.restart_at = now + child.backoff
                child.backoff = min(child.backoff * 2, BACKOFF_MAX)
            elif now >= child.restart_at:
                child.restart_at = None
                say(f"restarting {child.name}")
                child.start()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``ruschat`` and ``scripts/run_all.py`` share."""
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    parser.add_argument("--host", default="127.0.0.1", help="address all three bind (default: 127.0.0.1)")
    parser.add_argument("--web-port", type=int, default=8080)
    parser.add_argument("--fast-port", type=int, default=8000, help="port of the fast service (TinyLlama)")
    parser.add_argument("--capable-port", type=int, default=8001, help="port of the capable service (Qwen)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=locations.data_dir(os.environ),
        help="databases, saved KV caches and logs (default: %(default)s; also RUSCHAT_DATA_DIR)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("RUSCHAT_API_KEY") or None,
        help="API key the services require and the page sends (also RUSCHAT_API_KEY); needed with a "
        "--host beyond loopback. Handed on in the environment, never on a command line",
    )


def is_loopback(host: str) -> bool:
    """As engine.config.is_loopback (this module runs before the .venv exists)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal(args: argparse.Namespace) -> str | None:
    """Why nothing may start (beyond loopback without a key, a port taken), or None."""
    if not args.api_key and not is_loopback(args.host):
        return (
            f"refusing to listen on {args.host} without an API key: other machines could use the "
            "models and read the chat history. Set --api-key (or RUSCHAT_API_KEY), or use --host 127.0.0.1."
        )
    busy = [
        f"{name} port {port}"
        for name, port in (("web", args.web_port), ("fast", args.fast_port), ("capable", args.capable_port))
        if port_in_use(args.host, port)
    ]
    if busy:
        return (
            f"already in use on {args.host}: {', '.join(busy)}. Stop whatever holds it "
            "(`ss -ltnp` shows it) or pick other ports with --web-port/--fast-port/--capable-port."
        )
    return None


def build_children(args: argparse.Namespace, python: str, cwd: Path | None = None) -> list[Child]:
    """The three processes, each run as ``python -m <package>`` in ``cwd``."""
    data = args.data_dir.resolve()
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    local = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    origins = [f"http://localhost:{args.web_port}", f"http://127.0.0.1:{args.web_port}"]
    if local not in ("127.0.0.1", "localhost"):
        origins.append(f"http://{local}:{args.web_port}")

    def service(name: str, module: str, port: int, *extra: str) -> Child:
        command = [
            python,
            "-m",
            module,
            "--host",
            args.host,
            "--port",
            str(port),
            "--db",
            str(data / f"{module.removeprefix('backend_')}.sqlite3"),
            "--kv-dir",
            str(data / "kv" / module.removeprefix("backend_")),
            "--origins",
            ",".join(origins),
            *extra,
        ]
        return Child(name, command, f"http://{local}:{port}", "/healthz", logs, cwd)

    fast = service("fast", "backend_tinyllama", args.fast_port)
    # The capable service asks the fast one for the summaries of long chats.
    capable = service("capable", "backend_qwen", args.capable_port, "--summarizer", fast.url)
    web = Child(
        "web",
        [
            python,
            "-m",
            "webapp",
            "--host",
            args.host,
            "--port",
            str(args.web_port),
            "--fast-url",
            fast.url,
            "--capable-url",
            capable.url,
        ],
        f"http://{local}:{args.web_port}",
        "/",
        logs,
        cwd,
    )
    return [fast, capable, web]


def run(args: argparse.Namespace, python: str, cwd: Path | None, say: Say) -> int:
    """Start the three, wait until they answer, supervise them until Ctrl-C or SIGTERM; stop them."""
    if args.api_key:
        os.environ["RUSCHAT_API_KEY"] = args.api_key  # the children inherit it; `ps` does not show it
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        say(f"received {signal.Signals(signum).name}, stopping")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    children = build_children(args, python, cwd)
    try:
        for child in children:
            say(f"starting {child.name}: {' '.join(child.command[1:])}")
            child.start()
        if not wait_ready(children, stop, say):
            return 1 if not stop.is_set() else 0
        url = f"http://localhost:{args.web_port}"
        say(f"RusChat is running at {url}  (Ctrl-C to stop; logs in {args.data_dir.resolve() / 'logs'})")
        if not args.no_browser:
            webbrowser.open(url)
        supervise(children, stop, say)
        return 0
    finally:
        for child in reversed(children):
            child.stop()
        say("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """``ruschat``: the three processes on this interpreter, with the packages it imports."""
    parser = argparse.ArgumentParser(
        prog="ruschat", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    say = functools.partial(log, "ruschat")
    problem = refusal(args)
    if problem is not None:
        say(f"error: {problem}")
        return 2
    return run(args, sys.executable, None, say)


if __name__ == "__main__":
    sys.exit(main())
