"""``pip install .`` for real: a wheel built from the checkout, installed into a folder of its
own and run from outside the repository, as a user of the package would.

The wheel is installed with ``--no-deps``: its dependencies come from the running .venv
(through the commands' interpreter), so llama-cpp-python is not built again.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

import engine
from engine.config import REPO_ROOT
from engine.inference.model_files import BUNDLED
from tests.support import Process, free_port, model_path, wait_until

pytestmark = pytest.mark.integration

PACKAGES = ("engine", "shared", "webapp", "backend_tinyllama", "backend_qwen")
BUILT_FROM = (*PACKAGES, "pyproject.toml", "README.md", "requirements.txt")
COMMANDS = ("ruschat", "ruschat-fast", "ruschat-capable", "ruschat-web")
PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input")
LEFT_OUT = shutil.ignore_patterns("node_modules", "__pycache__", "*.pyc")


def shipped_files() -> set[str]:
    """Every file of our packages in the checkout (the web runtime, caches and bytecode aside)."""
    return {
        path.relative_to(REPO_ROOT).as_posix()
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("*")
        if path.is_file() and not {"node_modules", "__pycache__"} & set(path.parts) and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout (the build writes build/ and egg-info)."""
    version = importlib.metadata.version("setuptools")
    if tuple(int(part) for part in version.split(".")[:2]) < (70, 1):
        pytest.fail(f"setuptools {version} cannot build the wheel here: run `python3 scripts/setup.py --dev`")
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in BUILT_FROM:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=LEFT_OUT)
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    built = subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [path] = out.glob("ruschat-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [*PIP, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return target


@pytest.fixture
def outside(tmp_path: Path, installed: Path) -> tuple[Path, dict[str, str]]:
    """A working folder outside the repository, and an environment where Python finds our
    packages only in the installed copy and keeps the user's files under ``tmp_path``."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != REPO_ROOT]
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUSCHAT_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(installed), *paths]),
        XDG_DATA_HOME=str(tmp_path / "share"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    work = tmp_path / "work"
    work.mkdir()
    return work, env


def test_the_wheel_holds_every_module_the_web_apps_files_and_the_pinned_requirements(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [info] = {n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")}
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    files = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert {"webapp/index.html", "webapp/sw.js", "webapp/package-lock.json", "webapp/page/main.py"} <= files
    assert files == shipped_files(), (sorted(shipped_files() - files), sorted(files - shipped_files()))
    assert metadata["Version"] == engine.__version__
    lines = (line.split("#")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines())
    assert sorted(metadata.get_all("Requires-Dist")) == sorted(line for line in lines if line)
    for command in COMMANDS:
        assert f"{command} = " in entry_points


def test_the_installed_copy_is_what_runs_and_each_command_answers_help(installed: Path, outside):
    work, env = outside
    where = subprocess.run(
        [sys.executable, "-c", "import engine, shared, webapp, backend_qwen; print(engine.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert Path(where.stdout.strip()) == installed / "engine" / "__init__.py", where.stderr
    for command in COMMANDS:
        helped = subprocess.run(
            [str(installed / "bin" / command), "--help"], cwd=work, env=env, capture_output=True, text=True, timeout=60
        )
        assert helped.returncode == 0 and helped.stdout.startswith("usage: "), (command, helped.stderr)
    assert not list(work.iterdir())


def test_ruschat_fast_serves_from_the_installed_copy_with_its_history_in_the_users_folder(
    installed: Path, outside, tmp_path: Path
):
    work, env = outside
    env["RUSCHAT_MODELS_DIR"] = str(model_path().parent)
    command = [str(installed / "bin" / "ruschat-fast"), "--port", "{port}", "--threads", "1", "--cpu-dir", "off"]
    service = Process(command, tmp_path / "fast.log", env=env, cwd=work)
    try:
        service.start(timeout=30)
        assert requests.get(f"{service.url}/healthz", timeout=5).json() == {"status": "ok"}
        info = requests.get(f"{service.url}/api/info", timeout=5).json()
        assert (info["service"], info["model"], info["version"]) == ("tinyllama", BUNDLED.name, engine.__version__)
    finally:
        service.stop()
    assert service.proc is not None and service.proc.returncode == 0, service.output()
    assert (tmp_path / "share" / "ruschat" / "data" / "tinyllama.sqlite3").is_file()
    assert not list(work.iterdir())  # nothing written where it was started


def test_without_the_web_runtime_ruschat_web_says_how_to_get_it(installed: Path, outside):
    work, env = outside
    done = subprocess.run(
        [str(installed / "bin" / "ruschat-web"), "--port", str(free_port())],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"npm ci --prefix {installed / 'webapp'}" in done.stdout and "--runtime-dir" in done.stdout


def test_ruschat_starts_all_three_and_sigterm_stops_them(installed: Path, outside, tmp_path: Path):
    work, env = outside
    env.update(
        RUSCHAT_MODELS_DIR=str(model_path().parent),
        RUSCHAT_WEB_RUNTIME_DIR=str(REPO_ROOT / "webapp" / "node_modules"),
        RUSCHAT_WEB_SNAPSHOT="off",
        RUSCHAT_TINYLLAMA_THREADS="1",
        RUSCHAT_QWEN_THREADS="1",
        RUSCHAT_TINYLLAMA_CPU_DIR="off",
        RUSCHAT_QWEN_CPU_DIR="off",
    )
    web, fast, capable = free_port(), free_port(), free_port()
    log = tmp_path / "ruschat.log"
    ports = ["--web-port", str(web), "--fast-port", str(fast), "--capable-port", str(capable)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(installed / "bin" / "ruschat"), "--no-browser", *ports],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "RusChat is running at" in log.read_text() or proc.poll() is not None, 60, "ruschat")
        assert proc.poll() is None, log.read_text()
        assert requests.get(f"http://127.0.0.1:{web}/", timeout=10).status_code == 200
        assert requests.get(f"http://127.0.0.1:{capable}/healthz", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    output = log.read_text()
    assert "[ruschat] stopped" in output
    assert (tmp_path / "share" / "ruschat" / "data" / "logs" / "web.log").is_file()
