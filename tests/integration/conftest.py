from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import Process, gateway, service_process, start_upstream


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    folder = tmp_path_factory.mktemp("service")
    proc = service_process("backend_qwen", folder / "history.sqlite3", folder / "service.log").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module", params=["in-process", "llama-server"])
def each_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """The capable service twice: on its own model, and as a gateway to a real llama-server
    upstream (``--engine-url``). What holds for one must hold for the other."""
    if request.param == "in-process":
        yield request.getfixturevalue("service")
        return
    folder = tmp_path_factory.mktemp("remote")
    upstream = start_upstream("llama-server", folder / "upstream.log")
    try:
        proc = gateway("llama-server", folder, upstream)
        try:
            yield proc
        finally:
            proc.stop()
    finally:
        upstream.stop()
