"""Relaying a job's events as Server-Sent Events in OpenAI's chunk format."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Response

from engine.scheduling.jobs import Event, Finished, Job, Queued, Started, Token
from shared.chunks import ContextInfo, Timings, Usage, completion_chunk, final_chunk
from shared.responses import ErrorInfo
from shared.schemas import Message

DONE = "data: [DONE]\n\n"


def sse(data: Any, event: str | None = None) -> str:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {body}\n\n" if event else f"data: {body}\n\n"


def error_for(result: Finished) -> ErrorInfo | None:
    if result.finish_reason == "preempted":
        message = "a request of higher priority took the slot of this background request; try again later"
        return ErrorInfo(code="preempted", message=message, status=503)
    if result.finish_reason != "error":
        return None
    return ErrorInfo(code="generation_failed", message=result.error or "generation failed", status=500)


def relay(
    job: Job,
    *,
    model: str,
    completion_id: str,
    heartbeat: float,
    status_events: bool,
    message_id: str | None = None,
    session_id: str | None = None,
    cancel_on_disconnect: bool = True,
    catch_up: str | None = None,
    context: ContextInfo | None = None,
) -> Iterator[str]:
    """Yield SSE text for ``job`` until it finishes.

    When the client disconnects, the WSGI server fails the next write and closes this
    generator; with ``cancel_on_disconnect``, ``finally`` cancels the job and the model is
    free for the next one (else the job runs on: a stored chat answer outlives its page).
    Heartbeat comments while waiting make a disconnect visible even in the queue.
    ``catch_up``: a reader that reattaches gets the answer so far in one chunk, starting
    with this earlier text (of an answer being continued), then the live tokens.
    """
    created = int(time.time())
    reader = job.reader()
    try:
        first = completion_chunk(completion_id, created, model, role="assistant", content="")
        if message_id is not None:
            # The answer's id from the start, so that a client that stops early still
            # knows which stored message holds the partial answer.
            first["ruschat"] = {"message_id": message_id, "session_id": session_id}
            if context is not None:
                first["ruschat"]["context"] = context.to_dict()
        yield sse(first)
        pending: list[Event] = []
        if catch_up is not None:
            pending = reader.available()
            so_far = catch_up + "".join(e.text for e in pending if isinstance(e, Token))
            if so_far:
                yield sse(completion_chunk(completion_id, created, model, content=so_far))
            statuses = [e for e in pending if isinstance(e, (Queued, Started))]
            pending = [*statuses[-1:], *(e for e in pending if isinstance(e, Finished))]
        while True:
            event = pending.pop(0) if pending else reader.next(heartbeat)
            if event is None:
                yield ": keep-alive\n\n"
            elif isinstance(event, Queued):
                if status_events:
                    yield sse({"state": "queued", "position": event.position}, event="status")
            elif isinstance(event, Started):
                if status_events:
                    yield sse({"state": "generating", "queue_ms": round(event.queue_ms, 1)}, event="status")
            elif isinstance(event, Token):
                yield sse(completion_chunk(completion_id, created, model, content=event.text))
            elif isinstance(event, Finished):
                yield sse(
                    final_chunk(
                        completion_id,
                        created,
                        model,
                        finish_reason=event.finish_reason,
                        usage=event.usage,
                        timings=event.timings,
                        message_id=message_id,
                        session_id=session_id,
                        error=error_for(event),
                        context=context,
                    )
                )
                yield DONE
                return
    finally:
        if cancel_on_disconnect:
            job.cancel()


def stored_answer(message: Message, completion_id: str) -> Iterator[str]:
    """An answer that has ended, as the stream that wrote it ends: all its text at once."""
    created = int(message.created_at)
    model = message.model or ""
    first = completion_chunk(completion_id, created, model, role="assistant", content="")
    first["ruschat"] = {"message_id": message.id, "session_id": message.session_id}
    yield sse(first)
    if message.content:
        yield sse(completion_chunk(completion_id, created, model, content=message.content))
    error = ErrorInfo("generation_failed", message.error or "generation failed", 500)
    yield sse(
        final_chunk(
            completion_id,
            created,
            model,
            finish_reason=message.finish_reason or "stop",
            usage=Usage(),
            timings=Timings(),
            message_id=message.id,
            session_id=message.session_id,
            error=error if message.finish_reason == "error" else None,
        )
    )
    yield DONE


def event_stream(body: Iterator[str]) -> Response:
    return Response(
        body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def wait_for_result(job: Job, client_gone: Callable[[], bool] = lambda: False) -> Finished:
    """Block until ``job`` finishes (non-streaming requests); cancel it if the client goes."""
    while True:
        result = job.wait_finished(timeout=0.25)
        if result is not None:
            return result
        if not job.cancelled and client_gone():
            job.cancel()


def client_gone(environ: Mapping[str, Any]) -> Callable[[], bool]:
    """Whether the client of this request has closed its connection, for a request that
    writes nothing until it ends (a stream finds out on its next write)."""
    connection = environ.get("gunicorn.socket")

    def gone() -> bool:
        if connection is None:
            return False  # not served by gunicorn (the test client): it never leaves
        try:
            return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False  # nothing to read, still connected
        except OSError:
            return True

    return gone
