"""A chat turn's steps, apart from HTTP: start a turn, continue an answer, finish it.

``start`` fits the branch into the model's window (engine.chat.window), queues the job and,
once the job has its place in the queue and before it can start, stores the question and
the answer row (``generating``) so that the user's words are safe even if we crash and
anyone who opens the chat meanwhile sees the answer being written. The answer's text is
stored when the job finishes, whatever its end (stopped, failed, cut off). ``resume``
does the same for an answer that grows in place. Errors are domain exceptions
(PromptTooLong, CannotContinue, QueueFull, ConflictError, AnswerNotFound, AnswerBusy);
the HTTP layer turns them into the error shape in one place (engine.http.errors).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.chat.live import LiveAnswer
from engine.chat.summary import SummaryMaker, summary_room
from engine.chat.window import Window, fit
from engine.scheduling.jobs import Finished, Job
from shared.chunks import ContextInfo
from shared.schemas import GENERATING, ChatMessage, ChatRequest, ChatSettings, Message, new_id

if TYPE_CHECKING:  # the Service container holds the turns' collaborators
    from engine.service import Service


class AnswerNotFound(LookupError):
    """The answer to continue (or stop, or follow) is not in this chat on this service."""


class AnswerBusy(RuntimeError):
    """The answer is still being written: it cannot be continued before it stops."""


@dataclass(frozen=True)
class Turn:
    """A queued answer: the job generating it and the stored message it becomes."""

    job: Job
    session_id: str
    answer_id: str
    context: ContextInfo
    """How the prompt filled the model's window (first and last chunk of the stream)."""


def fit_branch(
    service: Service, chat_request: ChatRequest, branch: Sequence[ChatMessage], continue_last: bool = False
) -> tuple[Window, SummaryMaker]:
    """The prompt for ``branch`` under the chat's context policy (engine.chat.window)."""
    engine = service.engine
    summaries = SummaryMaker(service.store, service.summarizer, chat_request.session_id, engine.context_size)
    window = fit(
        engine,
        branch,
        system=chat_request.system,
        params=chat_request.params,
        policy=chat_request.context or "window",
        continue_last=continue_last,
        summarize=summaries,
        summary_room=summary_room(engine.context_size),
    )
    return window, summaries


def start(service: Service, chat_request: ChatRequest) -> Turn:
    """Queue the answer to the request's last message; store question and answer row."""
    window, summaries = fit_branch(service, chat_request, chat_request.messages)
    question = chat_request.messages[-1]
    answer_id = new_id()
    first_turn = sum(m.role == "user" for m in chat_request.messages) == 1

    def store_question() -> None:
        opening = next(m.content for m in chat_request.messages if m.role == "user")
        settings = ChatSettings(chat_request.system or "", chat_request.params, chat_request.context or "window")
        service.store.add_user_message(chat_request.session_id, question, opening, chat_request.parent_id, settings)
        summaries.store_created()
        service.store.add_answer(
            Message(
                id=answer_id,
                session_id=chat_request.session_id,
                role="assistant",
                content="",
                created_at=time.time(),
                model=service.engine.model_name,
                service=service.config.service,
                finish_reason=GENERATING,
                parent_id=question.id,
                prompt_tokens=window.prompt.n_tokens,
                window_from=window.visible_from,
            )
        )
        service.live.add(LiveAnswer(chat_request.session_id, answer_id, job))

    def finish(result: Finished) -> None:
        service.store.finish_answer(answer_id, result.text, result.finish_reason, result.error)
        service.live.remove(answer_id)
        if result.finish_reason in ("stop", "length") and first_turn:
            service.titles.propose(chat_request.session_id, question.content, result.text)

    params = service.capped(chat_request.params)
    job = Job(prompt=window.prompt, params=params, on_finish=finish, chat=chat_request.session_id)
    service.scheduler.submit(job, on_accept=store_question)
    return Turn(job, chat_request.session_id, answer_id, window.info(service.engine.context_size))


def resume(service: Service, chat_request: ChatRequest) -> Turn:
    """Continue a stored answer (cut at the length limit, stopped, interrupted) in place."""
    answer = service.store.get_message(chat_request.session_id, chat_request.messages[-1].id)
    if answer is None or answer.role != "assistant":
        raise AnswerNotFound("no such answer in this chat on this service")
    if service.live.get(answer.session_id, answer.id) is not None:
        raise AnswerBusy("this answer is still being written; stop it first")
    # The stored text is the truth: the model resumes exactly what the user sees.
    branch = (*chat_request.messages[:-1], ChatMessage(answer.id, "assistant", answer.content))
    window, summaries = fit_branch(service, chat_request, branch, continue_last=True)
    summaries.store_created()

    def reopen() -> None:
        if service.store.resume_answer(answer.id) is None:
            raise AnswerNotFound("the answer was deleted")
        service.live.add(LiveAnswer(answer.session_id, answer.id, job, before=answer.content))

    def finish(result: Finished) -> None:
        service.store.finish_answer(answer.id, answer.content + result.text, result.finish_reason, result.error)
        service.live.remove(answer.id)

    params = service.capped(chat_request.params)
    job = Job(prompt=window.prompt, params=params, on_finish=finish, chat=answer.session_id)
    service.scheduler.submit(job, on_accept=reopen)
    return Turn(job, chat_request.session_id, answer.id, window.info(service.engine.context_size))


def stored_answer(service: Service, session_id: str, message_id: str) -> Message:
    """The stored answer ``message_id`` of the chat, or AnswerNotFound."""
    message = service.store.get_message(session_id, message_id)
    if message is None or message.role != "assistant":
        raise AnswerNotFound("no such answer in this chat on this service")
    return message


def stop(service: Service, session_id: str, message_id: str) -> Message:
    """Stop an answer being written and return it as stored (idempotent)."""
    live = service.live.get(session_id, message_id)
    if live is not None:
        live.job.cancel()
        # Within one decode step the worker drops the job and stores the answer.
        live.job.wait_finished(timeout=30)
    return stored_answer(service, session_id, message_id)
