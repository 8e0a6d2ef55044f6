from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.app import create_app, shutdown
from engine.config import ServiceConfig
from engine.store.storage import Store
from shared.sse import SSEDecoder
from tests.fakes import FakeEngine
from tests.postgres import PostgresServer, postgres  # noqa: F401  (the session's PostgreSQL server)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("RUSCHAT_"):
            monkeypatch.delenv(key)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty history database: a SQLite file, then a database on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store on each database (SQLite with FTS5, PostgreSQL with its own search)."""
    store = Store(db_url)
    yield store
    store.close()


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
        titles=False,  # on in tests/unit/test_titles.py: elsewhere it would take the fake engine's turns
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


def sse_events(body: str, event: str = "message") -> list[Any]:
    """The payloads of one kind of event in an SSE body (JSON decoded, ``[DONE]`` as a string)."""
    return [e.data if e.data == "[DONE]" else json.loads(e.data) for e in SSEDecoder().feed(body) if e.event == event]
