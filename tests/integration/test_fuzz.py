"""Property-based fuzzing of a live service against its own OpenAPI document (Schemathesis).

Schemathesis reads ``/openapi.json``, generates valid and invalid requests for every
operation (the WebSocket aside) and checks each answer: never a 5xx, and status, content
type, headers and JSON bodies (and each event of a stream) as the document says; valid
requests accepted, invalid ones refused. Answers are kept short (``--max-tokens 8``, a
small context) so that the run takes a minute or two. ``RUSCHAT_FUZZ_SEED`` replays or
varies a run; ``RUSCHAT_FUZZ_EXAMPLES`` sets the examples per operation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Process, service_process

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def small_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    folder = tmp_path_factory.mktemp("fuzz")
    proc = service_process(
        "backend_qwen",
        folder / "history.sqlite3",
        folder / "service.log",
        *("--max-tokens", "8", "--ctx", "512", "--summarizer", "off", "--kv-disk-mb", "0", "--cpu-dir", "off"),
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def test_no_request_breaks_the_contract(small_service: Process, tmp_path: Path):
    seed = os.environ.get("RUSCHAT_FUZZ_SEED", "20261126")
    examples = os.environ.get("RUSCHAT_FUZZ_EXAMPLES", "15")
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color"),
        *("run", f"{small_service.url}/openapi.json", "--exclude-path", "/ws/status"),
        *("--checks", "all", "--max-examples", examples, "--seed", seed, "--workers", "1"),
        *("--request-timeout", "60", "--max-failures", "20", "--report-dir", str(tmp_path)),
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=280)
    output = run.stdout + run.stderr
    failures = output[output.find("= FAILURES =") :] if "= FAILURES =" in output else output
    assert run.returncode == 0, f"{failures[:12000]}\n--- service log ---\n{small_service.output()}"
    assert "Tested: 16" in output, output[-4000:]  # every operation but the WebSocket
