"""How full the model's context is and what of the chat it no longer sees.

Pure Python over the state (no DOM, no ``js``): the numbers come from the last answer on
the branch shown, as its stream reported them (``ruschat.context``) or as its service
stored them (``prompt_tokens``, ``window_from``), with the context size of that service.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.chunks import ContextInfo
from shared.schemas import Message, Summary
from webapp.page.state.app import AppState

POLICY_LABELS = {"window": "newest messages", "summary": "older ones summarised", "strict": "no trimming"}


def current_context(state: AppState) -> ContextInfo | None:
    """The context of the newest answer shown (streaming or stored); None if unknown."""
    chat = state.chat
    for generation in state.generations:
        if generation.message_id and generation.message_id in chat.contexts:
            return chat.contexts[generation.message_id]
    answers = [m for m in chat.shown() if m.role == "assistant"]
    if not answers:
        return None
    last = answers[-1]
    if last.id in chat.contexts:
        return chat.contexts[last.id]
    service = state.services.get(last.service or "")
    if last.prompt_tokens is None or service is None or service.info is None:
        return None
    return ContextInfo(
        used=last.prompt_tokens,
        size=service.info.context_size,
        policy=chat.settings.context,
        visible_from=last.window_from,
    )


def outside_window(shown: Sequence[Message], context: ContextInfo | None) -> list[str]:
    """Ids of the shown messages before the first one the model saw."""
    ids = [m.id for m in shown]
    if context is None or context.visible_from not in ids:
        return []
    return ids[: ids.index(context.visible_from)]


def summary_shown(summaries: Sequence[Summary], hidden: Sequence[str], context: ContextInfo | None) -> Summary | None:
    """The summary sent in place of the ``hidden`` messages, if there is one."""
    if not hidden:
        return None
    by_id = {s.id: s for s in summaries}
    if context is not None and context.summary_id in by_id:
        return by_id[context.summary_id]
    covering = [s for s in summaries if s.through_id == hidden[-1]]
    return covering[-1] if covering else None


def gauge_text(context: ContextInfo) -> str:
    return f"{context.used:,} of {context.size:,} tokens"


def gauge_title(context: ContextInfo) -> str:
    """The longer explanation (the gauge's tooltip)."""
    text = f"The last prompt filled {context.used:,} of the model's {context.size:,} tokens of context"
    if context.visible_from:
        text += f"; older messages are left out ({POLICY_LABELS.get(context.policy, context.policy)})"
    return text + (f". {context.note}" if context.note else ".")


def share(context: ContextInfo) -> float:
    return min(1.0, context.used / context.size) if context.size else 0.0
