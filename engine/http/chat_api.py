"""RusChat's chat endpoints: stream a stored answer, stop it, follow it again.

The steps of a turn (what is stored when) are engine.chat.turns'; this module reads the
request and streams the events. An answer is the service's, not the request's: if the
client goes away it runs on to its end (stop it with ``POST .../stop``, follow it again
with ``GET .../stream``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from engine.chat import turns
from engine.http.inputs import message_args, read_json
from engine.http.state import current
from engine.http.streaming import event_stream, relay, stored_answer
from engine.scheduling.jobs import Job
from engine.service import Service
from shared.chunks import ContextInfo
from shared.schemas import ChatRequest

bp = Blueprint("chat", __name__)


@bp.post("/api/chat")
def chat() -> Response:
    """Stream an answer to the branch and store both the question and the answer.

    The question is stored under the message before it and the answer under the
    question, so regenerated answers and edited questions become siblings; with
    ``continue`` the stored answer grows instead."""
    service = current()
    chat_request = ChatRequest.from_dict(read_json(), service.config.limits)
    turn = turns.resume(service, chat_request) if chat_request.continue_answer else turns.start(service, chat_request)
    return answer_stream(service, turn.job, turn.session_id, turn.answer_id, context=turn.context)


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


@bp.post("/api/sessions/<session_id>/messages/<message_id>/stop")
def stop_answer(session_id: str, message_id: str) -> Response:
    """Stop an answer that is being written; answer with it as stored (also if it had
    already ended: stopping is idempotent)."""
    service = current()
    return jsonify(turns.stop(service, *message_args(session_id, message_id)).to_dict())


@bp.get("/api/sessions/<session_id>/messages/<message_id>/stream")
def follow_answer(session_id: str, message_id: str) -> Response:
    """Reattach: the answer so far in one chunk, then its live tokens, its final chunk and
    ``[DONE]``, as ``POST /api/chat`` streams them; an ended answer all at once."""
    service = current()
    session_id, message_id = message_args(session_id, message_id)
    live = service.live.get(session_id, message_id)
    if live is None:
        answer = turns.stored_answer(service, session_id, message_id)
        return event_stream(stored_answer(answer, f"chatcmpl-{message_id}"))
    return answer_stream(service, live.job, session_id, message_id, catch_up=live.before)
