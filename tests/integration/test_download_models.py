"""scripts/download_models.py against a local stand-in for the Hugging Face hub."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backend_qwen import PROFILE as CAPABLE
from engine.config import REPO_ROOT
from tests.support import free_port

SCRIPT = REPO_ROOT / "scripts" / "download_models.py"
MODEL = CAPABLE.preferred_model
assert MODEL is not None and MODEL.repo_id is not None


class FakeHub(BaseHTTPRequestHandler):
    """Answers /<repo>/resolve/<revision>/<file> the way the hub does for an LFS file."""

    content = b"GGUF" + bytes(range(256)) * 400
    advertised_sha256 = hashlib.sha256(content).hexdigest()
    requests: list[str] = []

    def _headers(self) -> bool:
        self.requests.append(f"{self.command} {self.path}")
        if not self.path.startswith(f"/{MODEL.repo_id}/resolve/") or not self.path.endswith(MODEL.filename):
            self.send_response(404)
            self.end_headers()
            return False
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
        self.send_header("ETag", f'"{self.advertised_sha256}"')
        self.send_header("X-Linked-Etag", f'"{self.advertised_sha256}"')
        self.send_header("X-Linked-Size", str(len(self.content)))
        self.send_header("Content-Length", str(len(self.content)))
        self.end_headers()
        return True

    def do_HEAD(self) -> None:  # noqa: N802
        self._headers()

    def do_GET(self) -> None:  # noqa: N802
        if self._headers():
            self.wfile.write(self.content)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[str]:
    FakeHub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(models: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HF_ENDPOINT": endpoint,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HOME": str(models.parent),
        "HF_HUB_DISABLE_XET": "1",
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "capable", "--models-dir", str(models)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_downloads_and_verifies_the_checksum(tmp_path: Path, hub: str):
    result = run(tmp_path / "models", hub)
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "models" / MODEL.filename
    assert saved.read_bytes() == FakeHub.content
    assert "sha256 verified" in result.stdout
    again = run(tmp_path / "models", hub)
    assert again.returncode == 0 and "already in" in again.stdout


def test_a_corrupt_download_is_deleted(tmp_path: Path, hub: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(FakeHub, "advertised_sha256", "0" * 64)
    result = run(tmp_path / "models", hub)
    assert result.returncode == 1
    assert "does not match" in result.stderr
    assert not (tmp_path / "models" / MODEL.filename).exists()


def test_without_a_network_it_fails_fast_and_changes_nothing(tmp_path: Path):
    models = tmp_path / "models"
    result = run(models, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    assert result.returncode == 1
    assert "cannot reach the Hugging Face hub" in result.stderr
    assert "bundled model" in result.stderr
    assert list(models.iterdir()) == []
