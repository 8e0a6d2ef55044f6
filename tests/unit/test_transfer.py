"""Export and import converters (shared/transfer.py, shared/importers.py) under CPython."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.history import path_to
from shared.schemas import ChatSettings, Message, SchemaError, Session, Summary
from shared.transfer import export_json, export_markdown, import_data, parse_import, read_envelope


def our_chat() -> Session:
    sid = str(uuid.uuid4())
    q, a1, a2 = (str(uuid.uuid4()) for _ in range(3))
    messages = (
        Message(q, sid, "user", "Hi! ```code```", 100.0),
        Message(a1, sid, "assistant", "Hello.", 101.0, "tiny", "fast", "stop", parent_id=q, prompt_tokens=12),
        Message(a2, sid, "assistant", "Hey!", 102.0, "qwen", "capable", "length", parent_id=q, window_from=q),
    )
    summary = Summary(str(uuid.uuid4()), sid, q, "they said hi", 103.0, "tiny", "fast")
    return Session(
        sid,
        "Greetings",
        100.0,
        102.0,
        3,
        messages,
        ChatSettings(system="Be brief.", context="summary"),
        100.5,
        (summary,),
    )


CHATGPT = [
    {
        "title": "Paris trip",
        "create_time": 1700000000.5,
        "update_time": 1700000100.0,
        "conversation_id": "conv-1",
        "current_node": "a2",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["sys"]},
            "sys": {
                "id": "sys",
                "parent": "root",
                "children": ["q"],
                "message": {"author": {"role": "system"}, "content": {"content_type": "text", "parts": [""]}},
            },
            "q": {
                "id": "q",
                "parent": "sys",
                "children": ["a1", "tool"],
                "message": {
                    "author": {"role": "user"},
                    "create_time": 1700000001.0,
                    "content": {"content_type": "text", "parts": ["Where to eat?"]},
                },
            },
            "tool": {
                "id": "tool",
                "parent": "q",
                "children": ["a2"],
                "message": {"author": {"role": "tool"}, "content": {"content_type": "text", "parts": ["search..."]}},
            },
            "a1": {
                "id": "a1",
                "parent": "q",
                "children": [],
                "message": {
                    "author": {"role": "assistant"},
                    "create_time": 1700000002.0,
                    "content": {"content_type": "text", "parts": ["A bistro."]},
                    "metadata": {"model_slug": "gpt-4o"},
                },
            },
            "a2": {
                "id": "a2",
                "parent": "tool",
                "children": [],
                "message": {
                    "author": {"role": "assistant"},
                    "create_time": 1700000003.0,
                    "content": {"content_type": "text", "parts": ["A café.", {"asset_pointer": "img"}]},
                },
            },
        },
    }
]

OPENWEBUI = [
    {
        "id": "c0ffee",
        "title": "Sorting",
        "created_at": 1710000000,
        "updated_at": 1710000050,
        "chat": {
            "system": "You are terse.",
            "history": {
                "currentId": "m2",
                "messages": {
                    "m1": {
                        "id": "m1",
                        "parentId": None,
                        "childrenIds": ["m2"],
                        "role": "user",
                        "content": "Sort?",
                        "timestamp": 1710000001,
                    },
                    "m2": {
                        "id": "m2",
                        "parentId": "m1",
                        "childrenIds": [],
                        "role": "assistant",
                        "content": "sorted()",
                        "timestamp": 1710000002,
                        "model": "llama3",
                    },
                },
            },
        },
    }
]


def _llama_message(mid: int, role: str, content: str, parent: int, kind: str = "text") -> dict:
    return {
        "id": mid,
        "convId": "conv-9",
        "type": kind,
        "role": role,
        "content": content,
        "parent": parent,
        "children": [mid + 1],
        "timestamp": 1720000000000 + 1000 * (mid - 1),
    }


LLAMACPP = {
    "conv": {"id": "conv-9", "name": "Haiku", "lastModified": 1720000009000, "currNode": 3},
    "messages": [
        _llama_message(1, "system", "", -1, "root"),
        _llama_message(2, "user", "A haiku", 1),
        _llama_message(3, "assistant", "Old pond", 2),
    ],
}


def test_our_json_round_trip_is_lossless():
    chats = [our_chat(), our_chat()]
    envelope = export_json(chats, 200.0)
    assert (envelope["format"], envelope["version"], envelope["exported_at"]) == ("ruschat", 1, 200.0)
    imported = parse_import(json.dumps(envelope))
    assert imported.format == "ruschat" and imported.skipped == 0
    assert [s.to_dict() for s in imported.sessions] == [s.to_dict() for s in chats]
    assert read_envelope(envelope) == list(imported.sessions)


def test_chatgpt_tree_roles_and_times():
    imported = import_data(CHATGPT)
    [chat] = imported.sessions
    assert imported.format == "chatgpt" and imported.skipped == 1  # the tool message
    assert chat.title == "Paris trip" and chat.created_at == 1700000000.5 and chat.updated_at == 1700000100.0
    assert chat.settings is None  # ChatGPT's empty system message is no prompt
    q, a1, a2 = chat.messages
    assert (q.role, q.content, q.parent_id, q.created_at) == ("user", "Where to eat?", None, 1700000001.0)
    assert (a1.parent_id, a1.model) == (q.id, "gpt-4o")
    assert (a2.parent_id, a2.content) == (q.id, "A café.")  # hangs from the question past the tool
    assert [m.id for m in path_to(chat.messages, a2.id)] == [q.id, a2.id]


def test_openwebui_system_prompt_and_models():
    [chat] = import_data(OPENWEBUI).sessions
    assert chat.title == "Sorting" and chat.settings is not None and chat.settings.system == "You are terse."
    q, a = chat.messages
    assert (q.content, a.content, a.parent_id, a.model, a.created_at) == (
        "Sort?",
        "sorted()",
        q.id,
        "llama3",
        1710000002.0,
    )


def test_llamacpp_single_and_list_exports():
    imported = import_data(LLAMACPP)
    [chat] = imported.sessions
    assert imported.format == "llamacpp" and chat.title == "Haiku"
    q, a = chat.messages
    assert (q.parent_id, a.parent_id, q.created_at, chat.updated_at) == (None, q.id, 1720000001.0, 1720000009.0)
    assert import_data([LLAMACPP]).sessions == imported.sessions


@pytest.mark.parametrize("sample", [CHATGPT, OPENWEBUI, LLAMACPP])
def test_ids_are_deterministic_so_import_is_idempotent(sample):
    first, again = import_data(sample), import_data(json.loads(json.dumps(sample)))
    assert first.sessions == again.sessions
    [chat] = first.sessions
    Session.from_dict(chat.to_dict())  # valid by our own schema
    assert parse_import(json.dumps(export_json(first.sessions, 1.0))).sessions == first.sessions


def cyclic_chatgpt() -> list:
    data = json.loads(json.dumps(CHATGPT))
    data[0]["mapping"]["q"]["parent"] = "a1"
    return data


def non_string_part() -> list:
    data = json.loads(json.dumps(CHATGPT))
    data[0]["mapping"]["q"]["message"]["content"]["parts"] = [42]
    return data


def foreign_message() -> dict:
    data = json.loads(json.dumps(LLAMACPP))
    data["messages"][2]["convId"] = "other"
    return data


def our_bad_message() -> dict:
    envelope = export_json([our_chat()], 1.0)
    envelope["sessions"][0]["messages"][0]["content"] = 7
    return envelope


def our_cycle() -> dict:
    envelope = export_json([our_chat()], 1.0)
    messages = envelope["sessions"][0]["messages"]
    messages[0]["parent_id"] = messages[1]["id"]
    return envelope


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"\xff\xfe not text", "UTF-8"),
        ("{not json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('{"hello": 1}', "not a recognised export"),
        ("[1, 2]", "not a recognised export"),
        (json.dumps({"format": "ruschat", "version": 99, "sessions": []}), "version"),
        (json.dumps({"format": "ruschat", "version": 1, "sessions": {}}), "'sessions' must be a list"),
        (json.dumps(our_bad_message()), "sessions[0]: 'content' must be a string"),
        (json.dumps(our_cycle()), "cycle"),
        (json.dumps(cyclic_chatgpt()), "cycle"),
        (json.dumps(non_string_part()), "must hold text"),
        (json.dumps(foreign_message()), "another conversation"),
        ('[{"conv": {"id": "x"}, "messages": [{"id": 1, "role": "user", "content": "\\ud800"}]}]', "lone surrogate"),
        ('[{"conv": {"id": "x"}, "messages": [{"id": 1, "role": "user", "content": {"a": 1}}]}]', "must be a string"),
        ('[{"id": "x", "chat": {"history": {"messages": []}}}]', "must be a JSON object"),
    ],
)
def test_bad_files_raise_a_schema_error_naming_the_fault(raw, says):
    with pytest.raises(SchemaError, match=None) as caught:
        parse_import(raw)
    assert says in caught.value.message


def test_the_same_chat_twice_in_one_file_is_refused():
    envelope = export_json([our_chat()], 1.0)
    envelope["sessions"].append(envelope["sessions"][0])
    with pytest.raises(SchemaError, match="appears twice"):
        import_data(envelope)


def test_markdown_shows_each_chat_and_its_branch():
    chat = our_chat()
    text = export_markdown([chat], 200.0)
    assert text.startswith("# RusChat export") and "## Greetings" in text
    assert "> Be brief." in text and "> Hi! ```code```" in text
    assert "**Assistant (qwen)**" in text and "Hello." not in text  # the shown branch: newest answer
    assert "1 message(s) in other versions" in text


def test_openwebui_older_export_with_a_message_list():
    old = json.loads(json.dumps(OPENWEBUI))
    chat = old[0]["chat"]
    chat["messages"] = list(chat.pop("history")["messages"].values())
    assert import_data(old).sessions == import_data(OPENWEBUI).sessions


def test_markdown_follows_the_chosen_branch():
    chat = our_chat()
    question, older = chat.messages[0], chat.messages[1]
    text = export_markdown([chat], 200.0, {chat.id: {question.id: older.id}})
    assert "Hello." in text and "Hey!" not in text


def test_messages_under_a_long_chain_of_left_out_ones_hang_from_the_nearest_kept():
    # Walked once for all 20,000 leaves (a walk per leaf would take minutes).
    chain = [_llama_message(i, "tool", "x", i - 1) for i in range(2, 20_002)]
    leaves = [_llama_message(30_000 + i, "user", f"q{i}", 20_001) for i in range(20_000)]
    data = {"conv": {"id": "conv-9"}, "messages": [_llama_message(1, "system", "", -1, "root"), *chain, *leaves]}
    imported = import_data(data)
    [chat] = imported.sessions
    assert len(chat.messages) == 20_000 and imported.skipped == 20_000
    assert {m.parent_id for m in chat.messages} == {None}
