"""OpenAI-compatible endpoints: the official ``openai`` client works unchanged.

Stateless: nothing here is stored in the chat history.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request

from engine.api import read_json, submit
from engine.context import Service, current
from engine.errors import ApiError, error_response
from engine.inference import Prompt, PromptTooLong
from engine.scheduler import Job
from engine.streaming import client_gone, error_for, event_stream, relay, wait_for_result
from shared.schemas import CompletionRequest, new_id, openai_finish_reason

bp = Blueprint("openai", __name__, url_prefix="/v1")


@bp.get("/models")
def models() -> Response:
    service = current()
    return jsonify(
        {
            "object": "list",
            "data": [
                {
                    "id": service.engine.model_name,
                    "object": "model",
                    "created": int(service.started_at),
                    "owned_by": f"ruschat-{service.config.service}",
                }
            ],
        }
    )


def prepare(service: Service, body: CompletionRequest) -> Prompt:
    """The prompt; an over-long one is OpenAI's 400 ``context_length_exceeded`` (on which
    OpenAI clients trim their history), where /api/chat answers 422."""
    try:
        return service.engine.prepare([{"role": m.role, "content": m.content} for m in body.messages])
    except PromptTooLong as error:
        raise ApiError(400, "context_length_exceeded", str(error), param="messages") from None


@bp.post("/chat/completions")
def chat_completions() -> Response:
    service = current()
    body = CompletionRequest.from_dict(read_json(), service.config.limits)
    if body.n > service.engine.slots:
        raise ApiError(400, "invalid_request", f"'n' must be at most {service.engine.slots}", param="n")
    prompt = prepare(service, body)
    job = Job(prompt=prompt, params=body.params)
    submit(service, job)
    completion_id = f"chatcmpl-{new_id()}"
    model = service.engine.model_name
    if body.stream:
        return event_stream(
            relay(
                job,
                model=model,
                completion_id=completion_id,
                heartbeat=service.config.heartbeat_seconds,
                status_events=False,
            )
        )
    try:
        # OpenAI clients expect a closed connection to cancel, also when not streaming.
        result = wait_for_result(job, client_gone(request.environ))
    finally:
        job.cancel()
    error = error_for(result)
    if error is not None:
        return error_response(error)
    return jsonify(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": openai_finish_reason(result.finish_reason),
                }
            ],
            "usage": result.usage.to_dict(),
            "ruschat": {"finish_reason": result.finish_reason, "timings": asdict(result.timings)},
        }
    )
