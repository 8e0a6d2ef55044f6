"""The page's keyboard moves and screen-reader announcements, run under CPython (the browser runs the same file)."""

from __future__ import annotations

import pytest

from webapp.page.a11y import answer_announcement, next_index


@pytest.mark.parametrize(
    ("key", "current", "count", "wanted"),
    [
        ("ArrowDown", -1, 3, 0),  # from the list itself to its first item
        ("ArrowDown", 0, 3, 1),
        ("ArrowDown", 2, 3, 2),  # the last item stays
        ("ArrowUp", 2, 3, 1),
        ("ArrowUp", 0, 3, 0),
        ("ArrowUp", -1, 3, 0),
        ("Home", 2, 3, 0),
        ("End", -1, 3, 2),
        ("ArrowDown", -1, 0, None),  # an empty list
        ("Tab", 0, 3, None),  # not a move: the browser's
        ("a", 0, 3, None),
    ],
)
def test_arrow_keys_move_within_a_list(key: str, current: int, count: int, wanted: int | None):
    assert next_index(key, current, count) == wanted


def test_an_ended_answer_is_announced_with_who_wrote_it_and_how_it_ended():
    assert answer_announcement("Fast", " Hello there. ", "stop") == "Fast answered: Hello there."
    assert answer_announcement("Capable", "Half", "cancelled") == "Capable was stopped: Half"
    assert answer_announcement("Fast", "Long", "length") == "Fast answered (cut at the length limit): Long"
    assert answer_announcement("Fast", "", "error", "model crashed") == "Fast failed: model crashed."
