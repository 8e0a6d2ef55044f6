"""The open chat: its messages as a tree, the branch shown, its settings and summaries.

Plain dataclasses over ``shared.history``'s tree functions, no DOM and no ``js``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.chunks import ContextInfo
from shared.history import branch, children, path_to
from shared.schemas import GENERATING, ChatMessage, ChatRequest, ChatSettings, Message, Summary, new_id
from webapp.page.state.settings import PAGE_DEFAULTS


@dataclass
class Chat:
    """The open chat: its id, its messages (a tree), which branch is shown, and its
    system prompt and sampling."""

    session_id: str = field(default_factory=new_id)
    messages: list[Message] = field(default_factory=list)
    """Every message of the chat, from both services: a tree by ``parent_id``."""
    settings: ChatSettings = PAGE_DEFAULTS
    chosen: dict[str, str] = field(default_factory=dict)
    """The child shown at each fork, by parent id ("" for the chat's first messages)."""
    pending: str | None = None
    """While an answer to this message streams in, the branch shown ends at it."""
    compare: str | None = None
    """A question whose answers are shown side by side (after Ask both)."""
    summaries: list[Summary] = field(default_factory=list)
    """Summaries of older messages the services sent in their place (``context: summary``)."""
    contexts: dict[str, ContextInfo] = field(default_factory=dict)
    """What the model saw for the answers streamed since the chat was opened, by answer id."""

    def shown(self) -> list[Message]:
        """The branch on screen: at each fork the chosen child, else the newest."""
        path = branch(self.messages, {(parent or None): child for parent, child in self.chosen.items()})
        ids = [m.id for m in path]
        if self.pending in ids:
            path = path[: ids.index(self.pending) + 1]
        return path

    def siblings(self, message: Message) -> list[Message]:
        """The alternatives at ``message``'s place in the tree, oldest first (itself included)."""
        return children(self.messages).get(message.parent_id, [message])

    def answers_to(self, message_id: str) -> list[Message]:
        return children(self.messages).get(message_id, [])

    def choose(self, message: Message) -> None:
        self.chosen[message.parent_id or ""] = message.id

    def path_to(self, message_id: str) -> list[Message]:
        return path_to(self.messages, message_id)

    def reveal(self, message_id: str) -> bool:
        """Show the branch that holds ``message_id`` (choose it at every fork); False if unknown."""
        path = self.path_to(message_id)
        if not path or path[-1].id != message_id:
            return False
        for message in path:
            self.choose(message)
        return True

    def add(self, message: Message) -> None:
        """Add a message, or replace the one with its id (a continued answer)."""
        for index, known in enumerate(self.messages):
            if known.id == message.id:
                self.messages[index] = message
                return
        self.messages.append(message)

    def being_written(self) -> list[Message]:
        """The answers that their services are still writing (as last heard)."""
        return [m for m in self.messages if m.role == "assistant" and m.finish_reason == GENERATING]

    def question(self, text: str, now: float, parent_id: str | None) -> Message:
        return Message(
            id=new_id(), session_id=self.session_id, role="user", content=text, created_at=now, parent_id=parent_id
        )

    def request(self, path: list[Message], continue_answer: bool = False) -> ChatRequest:
        """The request for an answer to the last message of ``path`` (root first), or, with
        ``continue_answer``, for more of that answer; with the chat's settings."""
        return ChatRequest(
            session_id=self.session_id,
            messages=tuple(ChatMessage(m.id, m.role, m.content) for m in path),
            params=self.settings.params,
            system=self.settings.system or None,
            continue_answer=continue_answer,
            context=self.settings.context,
        )
