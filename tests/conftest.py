from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.app import create_app, shutdown
from engine.settings import ServiceConfig
from tests.fakes import FakeEngine


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("RUSCHAT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(
        service="test",
        label="Test",
        model_path=tmp_path / "fake.gguf",
        model_name="Fake Model 1B",
        database_url=f"sqlite:///{tmp_path / 'history.sqlite3'}",
        max_queue=2,
        heartbeat_seconds=0.05,
    )


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def app(config: ServiceConfig, engine: FakeEngine) -> Iterator[Flask]:
    app = create_app(config, engine=engine)
    yield app
    shutdown(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sse_events(body: str, event: str | None = None) -> list[Any]:
    """The ``data:`` payloads of an SSE body (JSON decoded, ``[DONE]`` as a string).

    Only unnamed events by default; ``event="status"`` picks the named ones.
    """
    events = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        if next((line[len("event: ") :] for line in lines if line.startswith("event: ")), None) != event:
            continue
        for line in lines:
            if line.startswith("data: "):
                data = line[len("data: ") :]
                events.append(data if data == "[DONE]" else json.loads(data))
    return events
