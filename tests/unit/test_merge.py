from __future__ import annotations

import uuid

from shared.history import branch, children, merge_messages, merge_sessions, path_to
from shared.schemas import ChatSettings, GenerationParams, Message, Session


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


# --------------------------------------------------------------------------- trees


def child(parent: Message, at: float, role: str, model: str | None = None) -> Message:
    return Message(
        id=str(uuid.uuid4()),
        session_id=parent.session_id,
        role=role,
        content=f"{role}@{at}",
        created_at=at,
        model=model,
        parent_id=parent.id,
    )


def branching_chat() -> tuple[list[Message], list[Message], dict[str, Message]]:
    """One chat stored partly in each service: a question, an answer from each model
    (regenerated with the other one), an edited question under the fast answer."""
    sid = str(uuid.uuid4())
    q1 = Message(str(uuid.uuid4()), sid, "user", "q1", 1.0)
    a_fast = child(q1, 1.1, "assistant", "fast")
    a_capable = child(q1, 2.0, "assistant", "capable")  # regenerated with the other model
    q2 = child(a_fast, 3.0, "user")
    q2_edited = child(a_fast, 4.0, "user")  # the edit: a sibling of q2
    a2 = child(q2_edited, 4.1, "assistant", "capable")
    fast = [q1, a_fast, q2]
    capable = [q1, a_capable, q2_edited, a2]  # the capable service got the edit and its answer
    named = {"q1": q1, "a_fast": a_fast, "a_capable": a_capable, "q2": q2, "q2_edited": q2_edited, "a2": a2}
    return fast, capable, named


def test_the_merged_tree_is_the_union_of_both_services():
    fast, capable, m = branching_chat()
    merged = merge_messages(fast, capable)
    assert len(merged) == 6
    tree = children(merged)
    assert [x.id for x in tree[None]] == [m["q1"].id]
    assert [x.id for x in tree[m["q1"].id]] == [m["a_fast"].id, m["a_capable"].id]
    assert [x.id for x in tree[m["a_fast"].id]] == [m["q2"].id, m["q2_edited"].id]


def test_the_branch_shown_follows_choices_else_the_newest():
    fast, capable, m = branching_chat()
    merged = merge_messages(capable, fast)
    newest = branch(merged)
    assert [x.id for x in newest] == [m["q1"].id, m["a_capable"].id]
    chosen = branch(merged, {m["q1"].id: m["a_fast"].id})
    assert [x.id for x in chosen] == [m["q1"].id, m["a_fast"].id, m["q2_edited"].id, m["a2"].id]
    older = branch(merged, {m["q1"].id: m["a_fast"].id, m["a_fast"].id: m["q2"].id})
    assert [x.id for x in older] == [m["q1"].id, m["a_fast"].id, m["q2"].id]
    # A choice that names no child (deleted, or not loaded) falls back to the newest.
    assert branch(merged, {m["q1"].id: str(uuid.uuid4())}) == newest


def test_path_to_a_message_is_what_the_model_sees():
    fast, capable, m = branching_chat()
    merged = merge_messages(fast, capable)
    assert [x.id for x in path_to(merged, m["a2"].id)] == [m["q1"].id, m["a_fast"].id, m["q2_edited"].id, m["a2"].id]
    assert path_to(merged, str(uuid.uuid4())) == []


def test_settings_come_from_the_copy_changed_last():
    sid = str(uuid.uuid4())
    old = Session(sid, "T", 1.0, 5.0, settings=ChatSettings("old"), settings_updated_at=1.0)
    cold = ChatSettings("new", GenerationParams(temperature=0))
    new = Session(sid, "T", 1.0, 2.0, settings=cold, settings_updated_at=3.0)
    bare = Session(sid, "T", 1.0, 9.0)  # a copy of an earlier release: no settings
    [merged] = merge_sessions([old], [new], [bare])
    assert merged.settings == cold
    assert merged.updated_at == 9.0
    assert Session.from_dict(merged.to_dict()) == merged


def test_messages_whose_parent_is_out_of_reach_are_still_shown():
    fast, capable, m = branching_chat()
    only_capable = merge_messages(capable[1:])  # q1 was stored by the fast service, which is down
    assert [x.id for x in branch(only_capable)] == [m["q2_edited"].id, m["a2"].id]
