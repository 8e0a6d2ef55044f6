"""Relaying a job's events as Server-Sent Events in OpenAI's chunk format."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Response

from engine.scheduler import Finished, Job, Queued, Started, Token
from shared.schemas import ContextInfo, ErrorInfo, completion_chunk, final_chunk

DONE = "data: [DONE]\n\n"


def sse(data: Any, event: str | None = None) -> str:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {body}\n\n" if event else f"data: {body}\n\n"


def error_for(result: Finished) -> ErrorInfo | None:
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
    context: ContextInfo | None = None,
) -> Iterator[str]:
    """Yield SSE text for ``job`` until it finishes; cancel it if the client goes away.

    When the client disconnects, the WSGI server fails the next write and closes this
    generator: ``finally`` cancels the job and the model is free for the next one.
    Heartbeat comments while waiting make a disconnect visible even in the queue.
    """
    created = int(time.time())
    try:
        first = completion_chunk(completion_id, created, model, role="assistant", content="")
        if message_id is not None:
            # The answer's id from the start, so that a client that stops early still
            # knows which stored message holds the partial answer.
            first["ruschat"] = {"message_id": message_id, "session_id": session_id}
            if context is not None:
                first["ruschat"]["context"] = context.to_dict()
        yield sse(first)
        while True:
            event = job.next_event(heartbeat)
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
        job.cancel()


def event_stream(body: Iterator[str]) -> Response:
    return Response(
        body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def wait_for_result(job: Job) -> Finished:
    """Block until ``job`` finishes (non-streaming requests)."""
    while True:
        event = job.next_event(timeout=60)
        if isinstance(event, Finished):
            return event
