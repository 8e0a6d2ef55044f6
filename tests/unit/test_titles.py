"""Titles written by the model after a chat's first answer (engine.chat.titles)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.app import create_app, shutdown
from engine.chat.titles import INSTRUCTION, MAX_TITLE_CHARS, Titles, clean_title
from engine.chat.writer import WriteFailed
from engine.config import ServiceConfig
from engine.store.storage import Store
from tests.fakes import FakeEngine


@pytest.mark.parametrize(
    ("proposal", "title"),
    [
        ('"Trip to Oslo"', "Trip to Oslo"),
        ("**Title:** Oslo *weekend* plans.\nMore text", "Oslo weekend plans"),
        ("\n\n# Norway's capital\n", "Norway's capital"),
        ("'Fjords'", "Fjords"),
        ("“Fjords”", "Fjords"),
        ('The title of this conversation is "Baking Sourdough Bread at Home:"', "Baking Sourdough Bread at Home"),
        ('The title of this conversation is "The Python Reversal of Lists: A', "The Python Reversal of Lists: A"),
        ("one two three four five six seven eight nine ten", "one two three four five six seven eight"),
        ("", None),
        ('"" **', None),
    ],
)
def test_proposals_are_cleaned_into_one_line(proposal: str, title: str | None):
    assert clean_title(proposal) == title


@pytest.mark.parametrize(
    ("proposal", "title"),
    [  # what SmolLM2-135M answers to title_messages(), and variants of it
        ("This conversation is about fixing a flat bike tire.", "Fixing a flat bike tire"),
        ("The conversation is about sleep and sleep cycles.", "Sleep and sleep cycles"),
        ("THIS CONVERSATION IS ABOUT: quokkas", "Quokkas"),
        ("This conversation is about a recipe. The user asks for pancakes.", "Recipe"),
        ('Short title: "Sleep basics"', "Sleep basics"),
        ("Short title - Sleep basics", "Sleep basics"),
        ("'Title': sleep basics", "Sleep basics"),
        ("A short title: sleep basics", "Sleep basics"),
        ("What is this conversation about?", None),
        ('The answer to this question is: "What is this conversation about?"', None),
        ("Reply with a short title only.", None),
        ("Short title", None),
        ("Title:", None),
        # A title that merely shares everyday words with the instruction stays whole.
        ("What is a good pancake recipe?", "What is a good pancake recipe?"),
        ("How do I fix a flat tire", "How do I fix a flat tire"),
        ("Short stories about sleep", "Short stories about sleep"),
        ("About sleep", "About sleep"),
    ],
)
def test_an_echo_of_the_instruction_is_no_title(proposal: str, title: str | None):
    assert clean_title(proposal) == title


PREVIOUS_INSTRUCTION = (
    "You write titles for conversations. "
    "What is the title of this conversation (three to six words)? Reply with the title only."
)


@pytest.mark.parametrize(
    ("proposal", "title"),
    [  # what SmolLM2-135M answered to the instruction of 0.x ("Three to six words: Sle…")
        ("Three to six words: Sleep", "Sleep"),
        ("three to six words - sleep needs", "Sleep needs"),
        ("Three To Six Words Sleep needs", "Sleep needs"),
        ('The title of the conversation is "Three to Six Words: Why I Wake Up at 3am."', "Why I Wake Up at 3am"),
        ('Three to six words: "Three to Six"', None),
        ('The answer to this question is: "Three to six words"', None),
        ("What is the title of this conversation?", None),
        ('"What is the title of this conversation (three to six words)?"', None),
        ("Three to six words:", None),
    ],
)
def test_any_instruction_is_stripped_from_the_title(proposal: str, title: str | None):
    assert clean_title(proposal, PREVIOUS_INSTRUCTION) == title


def test_the_instruction_itself_is_never_a_title():
    for sentence in INSTRUCTION.split(". "):
        assert clean_title(sentence) is None, sentence


def test_long_proposals_are_cut_on_a_word():
    title = clean_title("incomprehensibilities " * 8)
    assert title is not None and len(title) <= MAX_TITLE_CHARS and title.endswith("incomprehensibilities…")


def wait_for(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "not within the wait"
        time.sleep(0.02)


@pytest.fixture
def titled_app(config: ServiceConfig) -> Iterator[Flask]:
    app = create_app(replace(config, titles=True), engine=FakeEngine(pieces=["Oslo", " trip", "!"]))
    yield app
    shutdown(app)


def ask(client: FlaskClient, sid: str, *questions: str) -> None:
    messages, parent = [], None
    for i, question in enumerate(questions):
        messages.append({"id": str(uuid.uuid4()), "role": "user", "content": question})
        if i < len(questions) - 1:
            messages.append({"id": str(uuid.uuid4()), "role": "assistant", "content": "earlier answer"})
    body = {"session_id": sid, "messages": messages, "parent_id": parent}
    response = client.post("/api/chat", json=body)
    assert response.status_code == 200
    response.get_data()


def test_the_first_answer_brings_a_model_title(titled_app: Flask):
    client = titled_app.test_client()
    sid = str(uuid.uuid4())
    ask(client, sid, "where is oslo")
    wait_for(lambda: client.get(f"/api/sessions/{sid}").get_json()["title_source"] == "model")
    assert client.get(f"/api/sessions/{sid}").get_json()["title"] == "Oslo trip"
    titles = titled_app.extensions["ruschat"].titles
    wait_for(lambda: titles.pending() == 0)
    # It ran as a background job on this service's own model (no peer: --summarizer self).
    assert titled_app.extensions["ruschat"].scheduler.status().background == 0
    assert 'ruschat_background_jobs_total{finish_reason="stop"} 1.0' in client.get("/metrics").get_data(as_text=True)


def test_a_later_question_or_a_user_title_brings_none(titled_app: Flask):
    client = titled_app.test_client()
    later, renamed = str(uuid.uuid4()), str(uuid.uuid4())
    ask(client, later, "first", "second")
    ask(client, renamed, "where is oslo")
    client.patch(f"/api/sessions/{renamed}", json={"title": "Mine"})
    wait_for(lambda: titled_app.extensions["ruschat"].titles.pending() == 0)
    assert client.get(f"/api/sessions/{later}").get_json()["title_source"] == "opening"
    kept = client.get(f"/api/sessions/{renamed}").get_json()
    assert (kept["title"], kept["title_source"]) == ("Mine", "user")


class ScriptedWriter:
    model = "writer"
    service = "test"

    def __init__(self, *answers: str | WriteFailed) -> None:
        self.answers = list(answers)
        self.calls: list[bool] = []

    def __call__(self, messages, max_tokens: int, background: bool = False) -> str:
        self.calls.append(background)
        answer = self.answers.pop(0)
        if isinstance(answer, WriteFailed):
            raise answer
        return answer


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    yield store
    store.close()


def chat(store: Store) -> str:
    from shared.schemas import ChatMessage

    sid = str(uuid.uuid4())
    store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "where is oslo"))
    return sid


def test_a_preempted_title_is_asked_again_a_failed_one_not(store: Store):
    writer = ScriptedWriter(WriteFailed("preempted", retry=True), "Oslo")
    titles = Titles(store, writer, retry_seconds=0.01)
    sid = chat(store)
    titles.propose(sid, "where is oslo", "In Norway")
    wait_for(lambda: titles.pending() == 0)
    assert store.get_session(sid).title == "Oslo" and writer.calls == [True, True]

    down = ScriptedWriter(WriteFailed("unreachable"))
    titles = Titles(store, down, retry_seconds=0.01)
    other = chat(store)
    titles.propose(other, "where is oslo", "In Norway")
    wait_for(lambda: titles.pending() == 0)
    assert store.title_source(other) == "opening" and len(down.calls) == 1


def test_a_closed_service_starts_no_title(store: Store):
    writer = ScriptedWriter("Oslo")
    titles = Titles(store, writer)
    titles.close()
    sid = chat(store)
    titles.propose(sid, "where is oslo", "In Norway")
    assert titles.pending() == 0 and writer.calls == [] and store.title_source(sid) == "opening"
