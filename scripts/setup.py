"""Set up what RusChat needs, idempotently: the .venv, its packages, the web runtime, the model.

Runs with any Python 3.11+ (standard library only); every step is skipped when already
done, so it is cheap to call before each run or test.

    python3 scripts/setup.py          # what running needs
    python3 scripts/setup.py --dev    # plus what the tests need
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
LLAMA_CPP = "llama-cpp-python==0.3.36"
LLAMA_SERVER = ROOT / ".cache" / "bin" / "llama-server"
# The portable build: a native build enables AMX kernels that crash on some Xeons.
DEFAULT_CMAKE_ARGS = "-DGGML_NATIVE=OFF"

sys.path.insert(0, str(ROOT))
from engine.inference.model_files import provision_bundled  # noqa: E402  (standard library only)


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
    subprocess.run([str(c) for c in command], check=True, env=env, cwd=cwd)


def stamp_matches(name: str, content: str) -> bool:
    stamp = VENV / f".ruschat-{name}"
    return stamp.is_file() and stamp.read_text() == content


def write_stamp(name: str, content: str) -> None:
    (VENV / f".ruschat-{name}").write_text(content)


def ensure_venv() -> None:
    if VENV_PYTHON.is_file():
        return
    step(f"creating the virtual environment in {VENV}")
    run(sys.executable, "-m", "venv", VENV)
    run(VENV_PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")


def ensure_llama_cpp() -> None:
    cmake_args = os.environ.get("RUSCHAT_CMAKE_ARGS", DEFAULT_CMAKE_ARGS)
    wanted = f"{LLAMA_CPP} CMAKE_ARGS={cmake_args}\n"
    if stamp_matches("llama-cpp", wanted):
        return
    step(f"building {LLAMA_CPP} with CMAKE_ARGS={cmake_args!r} (compiles llama.cpp: a few minutes)")
    env = {**os.environ, "CMAKE_ARGS": cmake_args}
    # --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and would hand back a build
    # made with other flags.
    started = time.monotonic()
    run(VENV_PYTHON, "-m", "pip", "install", "--no-cache-dir", "--force-reinstall", "--no-deps", LLAMA_CPP, env=env)
    run(VENV_PYTHON, "-m", "pip", "install", "--quiet", LLAMA_CPP)  # its dependencies
    print(f"    built in {time.monotonic() - started:.0f} s")
    write_stamp("llama-cpp", wanted)


def ensure_llama_server() -> None:
    """llama.cpp's own server, built once from the llama.cpp source that llama-cpp-python
    vendors (same kernels as our engine): an upstream for the remote-engine tests."""
    cmake_args = os.environ.get("RUSCHAT_CMAKE_ARGS", DEFAULT_CMAKE_ARGS)
    wanted = f"{LLAMA_CPP} CMAKE_ARGS={cmake_args}\n"
    if LLAMA_SERVER.is_file() and stamp_matches("llama-server", wanted):
        return
    step(f"building llama-server from the llama.cpp that {LLAMA_CPP} vendors (a few minutes)")
    started = time.monotonic()
    work = ROOT / ".cache" / "llama-server-build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run(VENV_PYTHON, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", work, LLAMA_CPP)
    [archive] = work.glob("llama_cpp_python-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    [source] = work.glob("llama_cpp_python-*/vendor/llama.cpp")
    build = work / "build"
    options = ["-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF"]
    run("cmake", "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", *cmake_args.split(), *options)
    run("cmake", "--build", build, "--target", "llama-server", "-j", str(os.cpu_count() or 2))
    LLAMA_SERVER.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(build / "bin" / "llama-server", LLAMA_SERVER)
    shutil.rmtree(work)
    print(f"    built in {time.monotonic() - started:.0f} s")
    write_stamp("llama-server", wanted)


def ensure_requirements(dev: bool) -> None:
    files = [ROOT / "requirements.txt"] + ([ROOT / "requirements-dev.txt"] if dev else [])
    wanted = "".join(f.read_text() for f in files)
    name = "requirements-dev" if dev else "requirements"
    if stamp_matches(name, wanted):
        return
    step(f"installing Python packages from {', '.join(f.name for f in files)}")
    run(
        VENV_PYTHON,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *[arg for f in files for arg in ("-r", str(f))],
    )
    write_stamp(name, wanted)


def ensure_web_runtime() -> None:
    webapp = ROOT / "webapp"
    lock = webapp / "package-lock.json"
    if not lock.is_file():
        return
    wanted = lock.read_text()
    installed = webapp / "node_modules" / ".package-lock.json"
    if installed.is_file() and stamp_matches("npm", wanted):
        return
    if shutil.which("npm") is None:
        sys.exit("error: npm is needed to install the web runtime (Pyodide, PyScript): install Node.js")
    step("installing the web runtime (Pyodide, PyScript) from the npm registry, as locked")
    run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=webapp)
    write_stamp("npm", wanted)


def ensure_model() -> None:
    models = Path(os.environ.get("RUSCHAT_MODELS_DIR") or ROOT / "models")
    step(f"checking the bundled model in {models}")
    print(f"    {provision_bundled(models, python=str(VENV_PYTHON))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dev", action="store_true", help="also install the test dependencies (and build llama-server)"
    )
    args = parser.parse_args()
    if sys.version_info < (3, 11):  # noqa: UP036  (a user may run it with an older python3)
        sys.exit("error: RusChat needs Python 3.11 or newer")
    ensure_venv()
    ensure_llama_cpp()
    ensure_requirements(args.dev)
    if args.dev:
        ensure_llama_server()
    ensure_web_runtime()
    ensure_model()
    step("setup complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
