"""A service started with --api-key, through the official ``openai`` client."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import requests
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.support import REPO_ROOT, Process, model_path, service_process

pytestmark = pytest.mark.integration

KEY = "integration-key"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    folder = tmp_path_factory.mktemp("keyed")
    proc = service_process(
        "backend_tinyllama", folder / "history.sqlite3", folder / "service.log", "--api-key", KEY, "--parallel", "1"
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def test_the_openai_client_works_with_the_key(keyed: Process):
    with OpenAI(base_url=keyed.url + "/v1", api_key=KEY, max_retries=0, timeout=120) as client:
        answer = client.chat.completions.create(
            model="any", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0
        )
        assert answer.choices[0].message.content
        assert [m.id for m in client.models.list()]
    scrape = requests.get(keyed.url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    values = {s.name: s.value for f in text_string_to_metric_families(scrape.text) for s in f.samples if not s.labels}
    assert values["ruschat_tokens_generated_total"] >= 1
    assert values["ruschat_time_to_first_token_seconds_count"] == 1
    assert requests.get(keyed.url + "/metrics", timeout=10).status_code == 401


def test_without_the_key_the_openai_client_gets_an_authentication_error(keyed: Process):
    with (
        OpenAI(base_url=keyed.url + "/v1", api_key="wrong", max_retries=0, timeout=30) as client,
        pytest.raises(openai.AuthenticationError) as raised,
    ):
        client.models.list()
    assert raised.value.status_code == 401
    bare = requests.get(keyed.url + "/api/info", timeout=10)
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "unauthorized"
    assert bare.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(keyed.url + "/healthz", timeout=10).status_code == 200


def test_a_service_without_a_key_refuses_to_listen_on_every_address(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "backend_tinyllama", "--host", "0.0.0.0", "--port", "0"]
        + ["--db", str(tmp_path / "h.sqlite3"), "--model", str(model_path())],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "RUSCHAT_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr and "--api-key" in result.stderr
