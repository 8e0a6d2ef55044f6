from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import Process, service_process


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    folder = tmp_path_factory.mktemp("service")
    proc = service_process("backend_qwen", folder / "history.sqlite3", folder / "service.log").start()
    try:
        yield proc
    finally:
        proc.stop()
