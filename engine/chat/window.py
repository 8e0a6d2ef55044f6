"""What the model sees of a chat: the branch, fitted to its context by the chat's policy.

``strict`` sends the whole branch (422 when it cannot fit, as before policies existed).
``window`` keeps the system prompt and the newest messages that fit, leaving room for the
answer. ``summary`` does the same and sends a summary of the messages left out in their
place (written elsewhere: :mod:`engine.chat.summary`; this module only makes room for it).

Two rules shape the window:

- **Room for the answer.** The kept part must leave ``reserve`` tokens free:
  ``max_tokens``, but at most a quarter of the context (at least MIN_ANSWER_TOKENS). A
  chat asking for long answers does not lose most of its history to them; an answer that
  needs more still gets what is left (and ends with ``length``).
- **A start that holds still.** llama.cpp reuses the KV cache only for the longest common
  token prefix with the chat's previous prompt. A start that moved by one turn every turn
  would change the prompt's beginning every turn and make the model read the whole window
  again each time. So the branch is cut, from its root, into *blocks* of about a quarter
  of the context (each begins at a user message, a block is at least that long), and the
  window starts at the first block boundary from which the rest fits. The boundaries
  depend only on the messages before them, which never change, so a start that still fits
  is the one chosen next turn too: the start moves only when it must, and then by a whole
  block, which buys about a quarter of the context of new turns before it moves again.
  Only when even the newest block boundary leaves too much (one very long turn) does it
  fall back to the latest user message that fits, and finally to the question alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.inference.protocol import MIN_ANSWER_TOKENS, Engine, Prompt, PromptTooLong
from shared.chunks import ContextInfo
from shared.schemas import ChatMessage, GenerationParams, Summary

BLOCK_SHARE = 4
"""The window start moves in blocks of about 1/BLOCK_SHARE of the context."""
ANSWER_SHARE = 4
"""The room kept for the answer is at most 1/ANSWER_SHARE of the context."""
SUMMARY_PREFIX = "Summary of the earlier conversation: "

Summarize = Callable[[Sequence[ChatMessage]], tuple[Summary | None, str | None]]
"""Given the messages left out of the window, a summary of them (or None and why not)."""


@dataclass(frozen=True)
class Window:
    """The prompt for the model and what of the branch it holds."""

    prompt: Prompt
    policy: str
    start: int = 0
    """Index in the branch of the first message the model sees."""
    visible_from: str | None = None
    """That message's id, None when the model sees the whole branch."""
    summary: Summary | None = None
    """Sent in place of the messages before ``start``."""
    note: str | None = None
    """Why the policy was not followed to the letter (no summary to be had)."""

    def info(self, context_size: int) -> ContextInfo:
        return ContextInfo(
            used=self.prompt.n_tokens,
            size=context_size,
            policy=self.policy,
            visible_from=self.visible_from,
            summary_id=self.summary.id if self.summary else None,
            note=self.note,
        )


def conversation(
    messages: Sequence[ChatMessage], system: str | None, summary: str | None = None
) -> list[dict[str, str]]:
    """The messages as the engine takes them, after one system message (the chat's
    system prompt, then the summary of what was left out, when there is either)."""
    parts = [p for p in (system, f"{SUMMARY_PREFIX}{summary}" if summary else None) if p]
    head = [{"role": "system", "content": "\n\n".join(parts)}] if parts else []
    return head + [{"role": m.role, "content": m.content} for m in messages]


def answer_reserve(params: GenerationParams, context_size: int) -> int:
    """Tokens the kept part leaves free for the answer."""
    return max(MIN_ANSWER_TOKENS, min(params.max_tokens, context_size // ANSWER_SHARE))


def block_starts(engine: Engine, messages: Sequence[ChatMessage]) -> list[int]:
    """Where the branch's blocks begin: 0, then a user message once the block before it
    holds at least 1/BLOCK_SHARE of the context. Stable as the branch grows."""
    size = engine.context_size // BLOCK_SHARE
    # Each message is measured alone, as a user message (every chat template takes that).
    # What a template adds once per prompt (a default system prompt: SmolLM2's is ~20
    # tokens) is not part of a message; what it adds per message is.
    alone = _tokens(engine, "")
    per_message = _tokens(engine, "", "") - alone
    starts, held = [0], 0
    for index, message in enumerate(messages):
        if index > 0 and message.role == "user" and held >= size:
            starts.append(index)
            held = 0
        held += _tokens(engine, message.content) - alone + per_message
    return starts


def _tokens(engine: Engine, *texts: str) -> int:
    try:
        return engine.prepare([{"role": "user", "content": text} for text in texts]).n_tokens
    except PromptTooLong as error:
        return error.n_prompt


def candidates(engine: Engine, messages: Sequence[ChatMessage], continue_last: bool) -> list[int]:
    """Possible window starts, earliest first: the block boundaries, then every later user
    message up to the question (the last user message)."""
    last = len(messages) - 1
    users = [i for i, m in enumerate(messages) if m.role == "user" and (i < last or not continue_last)]
    question = users[-1] if users else 0
    starts = [s for s in block_starts(engine, messages) if s <= question]
    later = [i for i, m in enumerate(messages) if m.role == "user" and starts[-1] < i <= question]
    return starts + later


def fit(
    engine: Engine,
    messages: Sequence[ChatMessage],
    *,
    system: str | None,
    params: GenerationParams,
    policy: str = "window",
    continue_last: bool = False,
    summarize: Summarize | None = None,
    summary_room: int = 0,
) -> Window:
    """The prompt for ``messages`` (the branch, root first) under ``policy``.

    Raises PromptTooLong when not even the question fits (``strict``: when the branch does
    not). ``summary`` keeps ``summary_room`` tokens free for the summary it asks
    ``summarize`` for."""
    if policy == "strict":
        return Window(engine.prepare(conversation(messages, system), continue_last), policy)
    room = engine.context_size - answer_reserve(params, engine.context_size)
    whole = _prompt(engine, messages, system, continue_last)
    if whole is not None and whole.n_tokens <= room:
        return Window(whole, policy)
    if policy == "summary" and summarize is not None:
        room -= summary_room

    def fits(start: int) -> Prompt | None:
        prompt = _prompt(engine, messages[start:], system, continue_last)
        return prompt if prompt is not None and prompt.n_tokens <= room else None

    starts = candidates(engine, messages, continue_last)
    low, high = 1, len(starts) - 1  # starts[0] == 0 is the whole branch: it does not fit
    while low < high:  # the first start that fits; fitting only gets easier later on
        middle = (low + high) // 2
        if fits(starts[middle]) is not None:
            high = middle
        else:
            low = middle + 1
    start = starts[low] if len(starts) > 1 else starts[0]
    prompt = fits(start) or engine.prepare(conversation(messages[start:], system), continue_last)
    window = Window(prompt, policy, start, messages[start].id if start else None)
    if policy != "summary" or start == 0:
        return window
    if summarize is None:
        return _without_summary(window, "no summariser is configured: older messages are left out")
    summary, note = summarize(messages[:start])
    if summary is None:
        return _without_summary(window, note or "no summary: older messages are left out")
    summarized = _prompt(engine, messages[start:], system, continue_last, summary.content)
    if summarized is None:  # a summary longer than promised: answer without it
        return _without_summary(window, "the summary did not fit: older messages are left out")
    return Window(summarized, policy, start, window.visible_from, summary)


def _without_summary(window: Window, note: str) -> Window:
    return Window(window.prompt, window.policy, window.start, window.visible_from, None, note)


def _prompt(
    engine: Engine, messages: Sequence[ChatMessage], system: str | None, continue_last: bool, summary: str | None = None
) -> Prompt | None:
    try:
        return engine.prepare(conversation(messages, system, summary), continue_last)
    except PromptTooLong:
        return None
