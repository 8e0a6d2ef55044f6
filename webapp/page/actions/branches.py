"""Which branch of each chat the page showed last, kept in the browser (localStorage)."""

from __future__ import annotations

import json

import js

from webapp.page.state.chat import Chat

BRANCHES_KEY = "ruschat-branches:"


def load_branches(session_id: str) -> dict[str, str]:
    """Which branch of this chat the page showed last (kept in the browser)."""
    saved = js.localStorage.getItem(BRANCHES_KEY + session_id)
    try:
        chosen = json.loads(saved) if saved else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in chosen.items()} if isinstance(chosen, dict) else {}


def save_branches(chat: Chat) -> None:
    if chat.chosen:
        js.localStorage.setItem(BRANCHES_KEY + chat.session_id, json.dumps(chat.chosen))
