from __future__ import annotations

import uuid

from shared.schemas import Message, Session, merge_messages, merge_sessions


def msg(session_id: str, at: float, role: str = "user", mid: str | None = None, model: str | None = None) -> Message:
    return Message(
        id=mid or str(uuid.uuid4()),
        session_id=session_id,
        role=role,
        content=f"{role}@{at}",
        created_at=at,
        model=model,
    )


def session(sid: str, title: str, created: float, updated: float, *messages: Message) -> Session:
    return Session(
        id=sid,
        title=title,
        created_at=created,
        updated_at=updated,
        message_count=len(messages),
        messages=tuple(messages),
    )


def test_same_chat_in_two_services_appears_once_with_messages_in_time_order():
    sid = str(uuid.uuid4())
    q1, a1 = msg(sid, 1.0), msg(sid, 1.1, "assistant", model="fast")
    q2, a2 = msg(sid, 2.0), msg(sid, 2.1, "assistant", model="capable")
    fast = [session(sid, "Trip", 1.0, 1.1, q1, a1)]
    capable = [session(sid, "Trip", 2.0, 2.1, q2, a2, q1)]  # q1 stored in both: deduplicated
    [merged] = merge_sessions(fast, capable)
    assert [m.id for m in merged.messages] == [q1.id, a1.id, q2.id, a2.id]
    assert (merged.created_at, merged.updated_at, merged.message_count) == (1.0, 2.1, 4)


def test_newest_session_first_and_title_from_latest_change():
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    fast = [session(old, "Old name", 1.0, 5.0), session(new, "New", 3.0, 9.0)]
    capable = [session(old, "Renamed", 1.0, 6.0)]
    merged = merge_sessions(fast, capable)
    assert [s.id for s in merged] == [new, old]
    assert merged[1].title == "Renamed"


def test_one_service_empty_or_down():
    sid = str(uuid.uuid4())
    only = [session(sid, "Solo", 1.0, 2.0, msg(sid, 1.0))]
    assert merge_sessions(only, []) == merge_sessions(only) == merge_sessions([], only)
    assert merge_sessions([], []) == []


def test_question_sorts_before_its_answer_on_equal_timestamps():
    sid = str(uuid.uuid4())
    answer, question = msg(sid, 1.0, "assistant"), msg(sid, 1.0, "user")
    assert [m.role for m in merge_messages([answer], [question])] == ["user", "assistant"]
