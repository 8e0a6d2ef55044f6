"""RusChat's own endpoints: health, info, history and the persisted chat stream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.context import Service, current
from engine.errors import ApiError
from engine.generation import CannotContinue, Prompt, PromptTooLong
from engine.jobs import Finished, Job
from engine.live import LiveAnswer
from engine.paging import decode_cursor, encode_cursor, page_limit
from engine.scheduler import QueueFull
from engine.search import SearchQueryError, search
from engine.storage import ConflictError
from engine.streaming import event_stream, relay, stored_answer
from engine.summary import SummaryMaker, summarizer_for, summary_room
from engine.window import Window, fit
from shared.chunks import ContextInfo
from shared.history import MAX_FORGET
from shared.schemas import GENERATING, ChatMessage, ChatRequest, ChatSettings, Message, SessionPatch, check_uuid, new_id
from shared.search import DEFAULT_LIMIT, MAX_LIMIT

bp = Blueprint("api", __name__)


def read_json() -> Any:
    """The request body as JSON, whatever the Content-Type says; 400 if it is not JSON."""
    raw = request.get_data(cache=False)  # 413 beyond MAX_CONTENT_LENGTH
    try:
        return json.loads(raw)
    # ValueError covers bad JSON, bad UTF-8 and an integer over Python's 4,300 digits;
    # RecursionError, arrays or objects nested thousands deep.
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None


def prepare(service: Service, messages: Sequence[dict[str, str]], continue_last: bool = False) -> Prompt:
    try:
        return service.engine.prepare(messages, continue_last)
    except PromptTooLong as error:
        raise ApiError(422, "context_length_exceeded", str(error)) from None
    except CannotContinue as error:
        raise ApiError(422, "cannot_continue", str(error)) from None


def fit_branch(
    service: Service, chat_request: ChatRequest, branch: Sequence[ChatMessage], continue_last: bool = False
) -> tuple[Window, SummaryMaker]:
    """The prompt for ``branch`` under the chat's context policy (engine.window)."""
    config, engine = service.config, service.engine
    summarizer = summarizer_for(
        config.summarizer, engine, service.scheduler, config.service, config.summarizer_timeout, config.api_key
    )
    summaries = SummaryMaker(service.store, summarizer, chat_request.session_id, engine.context_size)
    try:
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
    except PromptTooLong as error:
        raise ApiError(422, "context_length_exceeded", str(error)) from None
    except CannotContinue as error:
        raise ApiError(422, "cannot_continue", str(error)) from None
    return window, summaries


def submit(service: Service, job: Job, on_accept: Callable[[], None] | None = None) -> None:
    try:
        service.scheduler.submit(job, on_accept)
    except QueueFull as full:
        raise ApiError(503, "queue_full", str(full), retry_after=full.retry_after) from None
    except ConflictError as conflict:
        raise ApiError(409, "id_conflict", str(conflict)) from None


def session_id_arg(session_id: str) -> str:
    try:
        return check_uuid(session_id, "session_id")
    except ValueError:
        raise ApiError(404, "session_not_found", "no such session") from None


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/api/info")
def info() -> Response:
    return jsonify(current().info().to_dict())


@bp.get("/api/sessions")
def list_sessions() -> Response:
    """A page of chats, newest first; ``next_cursor`` asks for the next (null at the end).
    The first page (no cursor) also lists the chats deleted here (``tombstones``)."""
    store = current().store
    limit = page_limit(request.args.get("limit"))
    raw_cursor = request.args.get("cursor")
    before = decode_cursor(raw_cursor) if raw_cursor is not None else None
    page = store.list_sessions(limit + 1, before)
    more = len(page) > limit
    page = page[:limit]
    body: dict[str, Any] = {
        "sessions": [s.to_dict(with_messages=False) for s in page],
        "next_cursor": encode_cursor((page[-1].updated_at, page[-1].id)) if more else None,
    }
    if before is None:
        body["tombstones"] = [t.to_dict() for t in store.list_tombstones()]
    return jsonify(body)


@bp.post("/api/tombstones/forget")
def forget_tombstones() -> Response:
    """Forget deletions of chats that were brought back (imported) since."""
    body = read_json()
    ids = body.get("session_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or len(ids) > MAX_FORGET:
        raise ApiError(400, "invalid_request", f"'session_ids' must be a list of at most {MAX_FORGET} ids")
    try:
        checked = [check_uuid(i, "session_ids") for i in ids]
    except ValueError as error:
        raise ApiError(400, "invalid_request", str(error)) from None
    return jsonify({"forgotten": current().store.forget_tombstones(checked)})


@bp.get("/api/search")
def search_messages() -> Response:
    """The messages that match ``q``, best first."""
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3 and 1 <= int(raw_limit) <= MAX_LIMIT):
        raise ApiError(400, "invalid_request", f"limit must be a whole number from 1 to {MAX_LIMIT}", param="limit")
    try:
        hits = search(current().store.engine, request.args.get("q", ""), int(raw_limit))
    except SearchQueryError as error:
        raise ApiError(400, "invalid_query", str(error), param="q") from None
    return jsonify({"hits": [hit.to_dict() for hit in hits]})


@bp.get("/api/sessions/<session_id>")
def get_session(session_id: str) -> Response:
    session = current().store.get_session(session_id_arg(session_id))
    if session is None:
        raise ApiError(404, "session_not_found", "no such session")
    return jsonify(session.to_dict())


@bp.patch("/api/sessions/<session_id>")
def update_session(session_id: str) -> Response:
    service = current()
    patch = SessionPatch.from_dict(read_json(), service.config.limits)
    session = service.store.update_session(session_id_arg(session_id), patch.title, patch.settings)
    if session is None:
        raise ApiError(404, "session_not_found", "no such session")
    return jsonify(session.to_dict(with_messages=False))


@bp.delete("/api/sessions/<session_id>")
def delete_session(session_id: str) -> Response:
    service = current()
    service.live.stop_session(session_id)  # nothing left to store them in
    if not service.store.delete_session(session_id_arg(session_id)):
        raise ApiError(404, "session_not_found", "no such session")
    return Response(status=204)


@bp.post("/api/chat")
def chat() -> Response:
    """Stream an answer to the branch and store both the question and the answer.

    The question is stored under the message before it and the answer under the
    question, so regenerated answers and edited questions become siblings; with
    ``continue`` the stored answer grows instead."""
    service = current()
    chat_request = ChatRequest.from_dict(read_json(), service.config.limits)
    if chat_request.continue_answer:
        return continue_answer(service, chat_request)
    window, summaries = fit_branch(service, chat_request, chat_request.messages)
    prompt = window.prompt

    question = chat_request.messages[-1]
    answer_id = new_id()

    def store_question() -> None:
        # Before generation can start: the user's words are safe even if we crash, and
        # the answer exists (generating) for anyone who opens the chat meanwhile.
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
                prompt_tokens=prompt.n_tokens,
                window_from=window.visible_from,
            )
        )
        service.live.add(LiveAnswer(chat_request.session_id, answer_id, job))

    def store_answer(result: Finished) -> None:
        service.store.finish_answer(answer_id, result.text, result.finish_reason, result.error)
        service.live.remove(answer_id)
        if result.finish_reason in ("stop", "length") and sum(m.role == "user" for m in chat_request.messages) == 1:
            service.titles.propose(chat_request.session_id, question.content, result.text)

    job = Job(prompt=prompt, params=service.capped(chat_request.params), on_finish=store_answer)
    context = window.info(service.engine.context_size)
    return stream_answer(service, job, answer_id, chat_request.session_id, on_accept=store_question, context=context)


def stream_answer(
    service: Service,
    job: Job,
    answer_id: str,
    session_id: str,
    on_accept: Callable[[], None],
    context: ContextInfo | None = None,
) -> Response:
    """Queue the job and stream its answer as SSE, naming the stored message it becomes.

    The answer is the service's, not this request's: if the client goes away it runs on
    to its end (stop it with ``POST .../stop``, follow it again with ``GET .../stream``)."""
    submit(service, job, on_accept=on_accept)
    return answer_stream(service, job, session_id, answer_id, context=context)


def answer_stream(
    service: Service,
    job: Job,
    session_id: str,
    answer_id: str,
    context: ContextInfo | None = None,
    catch_up: str | None = None,
) -> Response:
    """A stored answer's events as SSE; the job runs on if the client goes away."""
    return event_stream(
        relay(
            job,
            model=service.engine.model_name,
            completion_id=f"chatcmpl-{answer_id}",
            heartbeat=service.config.heartbeat_seconds,
            status_events=True,
            message_id=answer_id,
            session_id=session_id,
            cancel_on_disconnect=False,
            context=context,
            catch_up=catch_up,
        )
    )


def continue_answer(service: Service, chat_request: ChatRequest) -> Response:
    """Resume a stored answer (cut at the length limit, stopped, interrupted) in place."""
    answer = service.store.get_message(chat_request.session_id, chat_request.messages[-1].id)
    if answer is None or answer.role != "assistant":
        raise ApiError(404, "message_not_found", "no such answer in this chat on this service")
    if service.live.get(answer.session_id, answer.id) is not None:
        raise ApiError(409, "answer_generating", "this answer is still being written; stop it first")
    # The stored text is the truth: the model resumes exactly what the user sees.
    branch = (*chat_request.messages[:-1], ChatMessage(answer.id, "assistant", answer.content))
    window, summaries = fit_branch(service, chat_request, branch, continue_last=True)
    summaries.store_created()
    prompt = window.prompt

    def resume() -> None:
        if service.store.resume_answer(answer.id) is None:
            raise ApiError(404, "message_not_found", "the answer was deleted")
        service.live.add(LiveAnswer(answer.session_id, answer.id, job, before=answer.content))

    def store_more(result: Finished) -> None:
        service.store.finish_answer(answer.id, answer.content + result.text, result.finish_reason, result.error)
        service.live.remove(answer.id)

    job = Job(prompt=prompt, params=service.capped(chat_request.params), on_finish=store_more)
    context = window.info(service.engine.context_size)
    return stream_answer(service, job, answer.id, chat_request.session_id, on_accept=resume, context=context)


def message_args(session_id: str, message_id: str) -> tuple[str, str]:
    try:
        return session_id_arg(session_id), check_uuid(message_id, "message_id")
    except ValueError:
        raise ApiError(404, "message_not_found", "no such message") from None


def stored_message(service: Service, session_id: str, message_id: str) -> Message:
    message = service.store.get_message(session_id, message_id)
    if message is None or message.role != "assistant":
        raise ApiError(404, "message_not_found", "no such answer in this chat on this service")
    return message


@bp.post("/api/sessions/<session_id>/messages/<message_id>/stop")
def stop_answer(session_id: str, message_id: str) -> Response:
    """Stop an answer that is being written; answer with it as stored (also if it had
    already ended: stopping is idempotent)."""
    service = current()
    session_id, message_id = message_args(session_id, message_id)
    live = service.live.get(session_id, message_id)
    if live is not None:
        live.job.cancel()
        # Within one decode step the worker drops the job and stores the answer.
        live.job.wait_finished(timeout=30)
    return jsonify(stored_message(service, session_id, message_id).to_dict())


@bp.get("/api/sessions/<session_id>/messages/<message_id>/stream")
def follow_answer(session_id: str, message_id: str) -> Response:
    """Reattach: the answer so far in one chunk, then its live tokens, its final chunk and
    ``[DONE]``, as ``POST /api/chat`` streams them; an ended answer all at once."""
    service = current()
    session_id, message_id = message_args(session_id, message_id)
    live = service.live.get(session_id, message_id)
    if live is None:
        return event_stream(stored_answer(stored_message(service, session_id, message_id), f"chatcmpl-{message_id}"))
    return answer_stream(service, live.job, session_id, message_id, catch_up=live.before)
