"""The page's per-chat settings, run under CPython: the panel's form, the defaults, stored chats."""

from __future__ import annotations

import dataclasses

import pytest

from shared.history import merge_sessions
from shared.schemas import ChatSettings, GenerationParams, SchemaError, Session, new_id
from webapp.page.state.app import AppState
from webapp.page.state.chat import Chat
from webapp.page.state.settings import (
    FIELDS,
    PAGE_DEFAULTS,
    defaults_from_json,
    defaults_to_json,
    form_values,
    settings_from_form,
    settings_of,
)

CONFIG = {"services": [{"id": "qwen", "label": "Capable", "url": "http://127.0.0.1:8001"}]}
PIRATE = ChatSettings(
    "You are a pirate.",
    GenerationParams(max_tokens=64, temperature=0.2, top_p=0.9, min_p=0.1, repeat_penalty=1.1),
    context="summary",
)


def test_the_panel_shows_every_parameter_and_reads_back_what_it_showed():
    values = form_values(PIRATE)
    assert set(values) == {"system", "context", "stop", "seed", *(spec.name for spec in FIELDS)}
    assert set(PIRATE.to_dict()) == set(values)  # every stored setting has a field
    assert values["max_tokens"] == "64" and values["temperature"] == "0.2"
    assert (values["stop"], values["seed"]) == ("", "")  # none: a random seed
    assert settings_from_form(values) == PIRATE


def test_stop_sequences_and_the_seed_round_trip_through_the_panel():
    params = dataclasses.replace(PIRATE.params, stop=("###", "\n\nUser:", "a\\nb", "\t"), seed=2**63)
    chat = dataclasses.replace(PIRATE, params=params)
    values = form_values(chat)
    # One line each: a line break, a tab and a backslash written as \n, \t and \\.
    assert values["stop"] == "###\n\\n\\nUser:\na\\\\nb\n\\t" and values["seed"] == str(2**63)
    assert settings_from_form(values) == chat
    typed = {**values, "stop": "END\n\n  \nStop here\nEND", "seed": " 42 "}  # empty lines are no stops
    assert settings_from_form(typed).params.stop == ("END", "  ", "Stop here")
    # A stop set through the API survives a save of the panel, whatever its characters.
    odd = dataclasses.replace(chat, params=dataclasses.replace(params, stop=("\r\n\r\n", "a\u2028b", "\x0c", "\x85")))
    assert "\r" not in form_values(odd)["stop"] and settings_from_form(form_values(odd)) == odd
    assert settings_from_form(typed).params.seed == 42
    assert settings_from_form({**values, "seed": ""}).params.seed is None


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("temperature", "3", "Temperature must be between 0.0 and 2.0"),
        ("top_p", "abc", "Top p must be a number"),
        ("max_tokens", "1.5", "Max tokens must be a whole number"),
        ("max_tokens", "100000", "Max tokens must be between 1 and 2048"),
        ("repeat_penalty", "", "Repeat penalty is required"),
        ("seed", "1.5", "Seed must be a whole number, or empty for a random one"),
        ("stop", "a\nb\nc\nd\ne", "Stop sequences: at most 4, one per line"),
        ("stop", "x" * 201, "Stop sequences may be at most 200 characters each"),
    ],
)
def test_a_wrong_field_is_refused_with_its_label(name, text, message):
    values = form_values(PIRATE) | {name: text}
    with pytest.raises(SchemaError) as caught:
        settings_from_form(values)
    assert str(caught.value) == message and caught.value.field == name


def test_the_fields_bounds_are_the_wire_schemas():
    for spec in FIELDS:
        for inside in (spec.low, spec.high):
            values = form_values(PIRATE) | {spec.name: f"{inside:g}"}
            assert settings_from_form(values).to_dict()[spec.name] == inside


def test_defaults_round_trip_through_local_storage_text():
    assert defaults_from_json(defaults_to_json(PIRATE)) == PIRATE


@pytest.mark.parametrize("saved", [None, "", "not json", '{"temperature": 9}', "[]"])
def test_missing_or_unreadable_defaults_fall_back_to_the_pages(saved):
    assert defaults_from_json(saved) == PAGE_DEFAULTS


def test_a_stored_chat_keeps_its_merged_settings_and_an_older_one_takes_the_defaults():
    session_id = new_id()
    older = Session(session_id, "Hi", 1.0, 2.0, settings=ChatSettings("old"), settings_updated_at=1.0)
    newer = Session(session_id, "Hi", 1.0, 3.0, settings=PIRATE, settings_updated_at=5.0)
    # As the page opens a chat: each service's copy parsed from JSON, then merged.
    copies = [[Session.from_dict(newer.to_dict())], [Session.from_dict(older.to_dict())]]
    (merged,) = merge_sessions(*copies)
    assert settings_of(merged, PAGE_DEFAULTS) == PIRATE
    legacy = Session.from_dict(Session(session_id, "Hi", 1.0, 2.0).to_dict())  # previous release: settings null
    assert legacy.settings is None
    assert settings_of(legacy, PIRATE) == PIRATE
    assert settings_of(None, PIRATE) == PIRATE


def test_new_chats_start_from_the_defaults_and_requests_carry_the_chats_settings():
    state = AppState.from_config(CONFIG, defaults=PIRATE)
    assert state.chat.settings == PIRATE
    chat = Chat(settings=ChatSettings("Answer in French.", GenerationParams(max_tokens=32, temperature=0.0)))
    request = chat.request([chat.question("Hello", 1.0, None)])
    assert request.system == "Answer in French."
    assert request.params == chat.settings.params
    body = request.to_dict()
    assert (body["system"], body["max_tokens"], body["temperature"]) == ("Answer in French.", 32, 0.0)


def test_a_chat_counts_as_stored_once_it_has_messages_or_is_in_the_history():
    state = AppState.from_config(CONFIG)
    assert not state.is_stored(state.chat.session_id)
    state.chat.messages.append(state.chat.question("Hi", 1.0, None))
    assert state.is_stored(state.chat.session_id)
    other = new_id()
    state.sessions = [Session(other, "Old", 1.0, 2.0)]
    assert state.is_stored(other) and not state.is_stored(new_id())
