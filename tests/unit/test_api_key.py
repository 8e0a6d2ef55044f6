"""The optional API key: every endpoint but /healthz and /openapi.json needs it when set;
a service refuses to bind beyond loopback without one; the page gets it from the web app."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from backend_qwen import PROFILE as QWEN
from backend_tinyllama import PROFILE as TINYLLAMA
from engine import server
from engine.app import create_app, shutdown
from engine.chat import summary, writer
from engine.config import ServiceConfig, config_from_args, exposure_refusal, is_loopback
from engine.inference.model_files import BUNDLED
from tests.fakes import FakeEngine
from tests.unit.test_app import chat_body
from webapp.server import WebConfig, page_config
from webapp.server import config_from_args as web_config_from_args
from webapp.server import create_app as create_web_app

KEY = "s3cret-key"
BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def keyed(config: ServiceConfig) -> Iterator[Flask]:
    app = create_app(dataclasses.replace(config, api_key=KEY), engine=FakeEngine())
    yield app
    shutdown(app)


@pytest.fixture
def keyed_client(keyed: Flask) -> FlaskClient:
    return keyed.test_client()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_requests_without_the_right_key_get_401_in_the_one_error_shape(keyed_client: FlaskClient, headers: dict):
    for response in (
        keyed_client.get("/api/info", headers=headers),
        keyed_client.get("/api/sessions", headers=headers),
        keyed_client.post("/api/chat", json=chat_body(), headers=headers),
        keyed_client.post("/v1/chat/completions", json={"messages": []}, headers=headers),
        keyed_client.get("/v1/models", headers=headers),
        keyed_client.get("/metrics", headers=headers),
        keyed_client.get("/no/such/path", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        error = response.get_json()["error"]
        assert (error["code"], error["type"], error["status"]) == ("unauthorized", "authentication_error", 401)


def test_the_right_key_opens_every_endpoint(keyed_client: FlaskClient):
    assert keyed_client.get("/api/info", headers=BEARER).status_code == 200
    assert keyed_client.get("/v1/models", headers={"Authorization": f"bearer {KEY}"}).status_code == 200
    body = chat_body()
    assert keyed_client.post("/api/chat", json=body, headers=BEARER).status_code == 200
    assert keyed_client.get(f"/api/sessions/{body['session_id']}", headers=BEARER).status_code == 200


def test_health_and_the_api_description_need_no_key(keyed_client: FlaskClient):
    assert keyed_client.get("/healthz").status_code == 200
    spec = keyed_client.get("/openapi.json").get_json()
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "401" in spec["paths"]["/api/info"]["get"]["responses"]


def test_cors_preflight_passes_without_the_key_and_allows_authorization(keyed_client: FlaskClient):
    response = keyed_client.options(
        "/api/chat",
        headers={
            "Origin": "http://localhost:8080",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    # The 401 itself carries CORS headers, so that the page can read why.
    refused = keyed_client.get("/api/info", headers={"Origin": "http://localhost:8080"})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"


def test_the_status_socket_takes_the_key_as_a_query_parameter(keyed_client: FlaskClient):
    # The test client cannot upgrade to a WebSocket: past the key check, flask-sock
    # refuses the plain GET; without the key it never gets there.
    assert keyed_client.get("/ws/status").status_code == 401
    assert keyed_client.get("/ws/status?api_key=wrong").status_code == 401
    assert keyed_client.get(f"/ws/status?api_key={KEY}").status_code != 401
    assert keyed_client.get("/ws/status", headers=BEARER).status_code != 401
    # Only the socket: elsewhere the key belongs in the header (URLs end up in logs).
    assert keyed_client.get(f"/api/info?api_key={KEY}").status_code == 401


def test_without_a_key_nothing_asks_for_one(client: FlaskClient):
    assert client.get("/api/info").status_code == 200
    assert "security" not in client.get("/openapi.json").get_json()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses(host: str):
    assert is_loopback(host)
    assert exposure_refusal(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "example.org"])
def test_binding_beyond_loopback_needs_a_key(host: str):
    assert not is_loopback(host)
    assert "API key" in (exposure_refusal(host, None) or "")
    assert exposure_refusal(host, KEY) is None


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / BUNDLED.filename).write_bytes(b"GGUF")
    return folder


def test_the_key_comes_from_the_option_the_service_variable_or_the_shared_one(models: Path):
    env = {"RUSCHAT_MODELS_DIR": str(models), "RUSCHAT_DATA_DIR": str(models.parent / "data")}
    assert config_from_args(QWEN, [], env).api_key is None
    shared = {**env, "RUSCHAT_API_KEY": "both"}
    assert config_from_args(QWEN, [], shared).api_key == "both"
    assert config_from_args(TINYLLAMA, [], shared).api_key == "both"
    assert config_from_args(QWEN, [], {**shared, "RUSCHAT_QWEN_API_KEY": "mine"}).api_key == "mine"
    assert config_from_args(QWEN, ["--api-key", "cli"], shared).api_key == "cli"


def test_a_service_refuses_to_listen_beyond_loopback_without_a_key(
    models: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("RUSCHAT_MODELS_DIR", str(models))
    monkeypatch.setenv("RUSCHAT_DATA_DIR", str(models.parent / "data"))
    monkeypatch.setattr(server.sys, "setswitchinterval", lambda _interval: None)
    served: list[tuple] = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: served.append(args) or 0)
    assert server.main(QWEN, ["--host", "0.0.0.0"]) == 2
    assert "refusing to listen on 0.0.0.0" in capsys.readouterr().err
    assert served == []
    assert server.main(QWEN, ["--host", "0.0.0.0", "--api-key", KEY]) == 0
    assert len(served) == 1


def test_the_web_app_hands_the_key_to_the_page():
    assert web_config_from_args([], {}).api_key is None
    config = web_config_from_args([], {"RUSCHAT_API_KEY": KEY})
    assert config.api_key == KEY
    assert web_config_from_args(["--api-key", "cli"], {}).api_key == "cli"
    assert page_config(config)["api_key"] == KEY
    page = create_web_app(config).test_client().get("/").get_data(as_text=True)
    block = page.split('id="ruschat-config"', 1)[1].split(">", 1)[1].split("</script>", 1)[0]
    assert json.loads(block)["api_key"] == KEY
    assert page_config(WebConfig())["api_key"] is None


def test_the_summariser_at_another_service_is_sent_this_services_key(monkeypatch: pytest.MonkeyPatch):
    sent = []

    class Answer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self) -> bytes:
            return json.dumps({"model": "m", "choices": [{"message": {"content": "a summary"}}]}).encode()

    def urlopen(request, timeout):
        sent.append(request)
        return Answer()

    monkeypatch.setattr(writer.urllib.request, "urlopen", urlopen)
    summarizer = summary.WriterSummarizer(writer.HttpWriter("http://127.0.0.1:8000", 5, KEY))
    assert summarizer("text", 50) == "a summary"
    assert sent[-1].get_header("Authorization") == f"Bearer {KEY}"
    summary.WriterSummarizer(writer.HttpWriter("http://127.0.0.1:8000", 5))("text", 50)
    assert sent[-1].get_header("Authorization") is None


def test_the_key_stays_out_of_printed_configs(config: ServiceConfig):
    assert KEY not in repr(dataclasses.replace(config, api_key=KEY))
    assert KEY not in repr(WebConfig(api_key=KEY))
