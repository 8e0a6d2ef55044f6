"""A deleted chat is gone from every file of the service: the SQLite database, its WAL and
shared-memory files, and the KV states saved under the data folder (kv/<profile>/...),
while the service runs and after it stops."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest
import requests

from tests.integration.test_kv_restart import STORY, saved_states, turn
from tests.support import chat_body, service_process, wait_until

pytestmark = pytest.mark.integration

SECRET = "Zorblaxian"
"""A made-up word, in the chat to delete only."""


def files_holding(folder: Path, needles: list[bytes]) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and any(needle in path.read_bytes() for needle in needles)
    )


def secret_tokens(folder: Path) -> bytes:
    """The int32 token ids a saved state's header holds for the secret word's sentence (how
    the question tokenizes inside the chat template)."""
    from llama_cpp import Llama

    from tests.support import model_path

    model = Llama(str(model_path()), vocab_only=True, verbose=False)
    tokens = model.tokenize(f" {SECRET} lighthouse keepers".encode(), add_bos=False, special=False)
    return array("i", tokens).tobytes()


def test_a_deleted_chat_leaves_no_trace_in_any_file(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    service = service_process("backend_qwen", data / "chat.db", tmp_path / "service.log", data_dir=data)
    service.start()
    try:
        kept = chat_body(STORY * 4 + "\nName one lighthouse keeper.", max_tokens=8)
        turn(service, kept)
        gone = chat_body(STORY * 4 + f"\nTell me about the {SECRET} lighthouse keepers.", max_tokens=8)
        turn(service, gone)
        # Both chats' states are saved (by a background thread, after the answers ended).
        wait_until(lambda: len(saved_states(data)) == 2, timeout=30, what="two saved KV states")
        token_bytes = secret_tokens(data)
        needles = [SECRET.encode(), SECRET.lower().encode(), token_bytes]
        assert files_holding(data, needles), "the test cannot see the chat in the files"
        assert len(files_holding(data / "kv", [token_bytes])) == 1, "the test cannot see its tokens in a state"

        response = requests.delete(f"{service.url}/api/sessions/{gone['session_id']}", timeout=30)
        assert response.status_code == 204, response.text
        assert files_holding(data, needles) == [], service.output()  # at once, while running
        assert len(saved_states(data)) == 1  # the other chat's state stays
        found = requests.get(f"{service.url}/api/search", params={"q": SECRET}, timeout=30).json()
        assert found["hits"] == []

        service.stop()
        assert files_holding(data, needles) == [], service.output()  # and after it stopped
        service.start()  # a restart brings nothing back, and the other chat is still there
        kept_chat = requests.get(f"{service.url}/api/sessions/{kept['session_id']}", timeout=30)
        assert kept_chat.status_code == 200
        assert requests.get(f"{service.url}/api/sessions/{gone['session_id']}", timeout=30).status_code == 404
        service.stop()
        assert files_holding(data, needles) == [], service.output()
    finally:
        service.stop()
