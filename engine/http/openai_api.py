"""OpenAI-compatible endpoints: the official ``openai`` client works unchanged.

Stateless: nothing here is stored in the chat history. ``n`` answers to one prompt run as
``n`` jobs side by side in the engine's slots; their events are relayed as one stream,
each chunk naming its choice by ``index``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.http.errors import ApiError, error_response
from engine.http.inputs import read_json
from engine.http.state import current
from engine.http.streaming import DONE, client_gone, error_for, event_stream, sse, wait_for_result
from engine.inference.protocol import Prompt
from engine.inference.sampling import grammar_for
from engine.scheduling.jobs import Event, Finished, Job, Token
from engine.scheduling.status import QueueFull
from engine.service import Service
from shared.chunks import Usage, completion_chunk, final_chunk, openai_finish_reason, usage_chunk
from shared.openai_schemas import CompletionRequest
from shared.schemas import GenerationParams, new_id

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
    """The prompt; an over-long one raises PromptTooLong (OpenAI's 400, engine.http.errors)."""
    return service.engine.prepare([{"role": m.role, "content": m.content} for m in body.messages])


def choice_params(body: CompletionRequest) -> list[GenerationParams]:
    """The params of each of the ``n`` answers: the response format's grammar, and with a
    seed, seeds one apart (each answer reproducible, the answers different)."""
    try:
        params = replace(body.params, grammar=grammar_for(body.response_format))
    except ValueError as error:
        raise ApiError(400, "invalid_request", str(error), param="response_format") from None
    if params.seed is None:
        return [params] * body.n
    return [replace(params, seed=params.seed + i) for i in range(body.n)]


def submit_all(service: Service, jobs: Sequence[Job]) -> None:
    """Queue every job, or none (503 if the queue has no room for all)."""
    try:
        for job in jobs:
            service.scheduler.submit(job)
    except QueueFull:
        for job in jobs:
            job.cancel()
        raise


@bp.post("/chat/completions")
def chat_completions() -> Response:
    service = current()
    body = CompletionRequest.from_dict(read_json(), service.config.limits)
    if body.n > service.engine.slots:
        raise ApiError(400, "invalid_request", f"'n' must be at most {service.engine.slots}", param="n")
    prompt = prepare(service, body)
    jobs = [
        Job(prompt=prompt, params=service.capped(params), background=body.background, keep=body.cache_prompt)
        for params in choice_params(body)
    ]
    submit_all(service, jobs)
    completion_id = f"chatcmpl-{new_id()}"
    model = service.engine.model_name
    if body.stream:
        return event_stream(
            completion_stream(
                jobs,
                model=model,
                completion_id=completion_id,
                heartbeat=service.config.heartbeat_seconds,
                include_usage=body.include_usage,
                logprobs=body.logprobs,
            )
        )
    gone = client_gone(request.environ)
    try:
        # OpenAI clients expect a closed connection to cancel, also when not streaming.
        results = [wait_for_result(job, gone) for job in jobs]
    finally:
        for job in jobs:
            job.cancel()
    for result in results:
        error = error_for(result)
        if error is not None:
            return error_response(error, retry_after=1 if error.status == 503 else None)
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": result.text},
            "logprobs": {"content": [e.to_dict() for e in logprobs_of(job)]} if body.logprobs else None,
            "finish_reason": openai_finish_reason(result.finish_reason),
        }
        for i, (job, result) in enumerate(zip(jobs, results, strict=True))
    ]
    return jsonify(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": total_usage(results).to_dict(),
            "ruschat": {"finish_reason": results[0].finish_reason, "timings": asdict(results[0].timings)},
        }
    )


def logprobs_of(job: Job) -> list[Any]:
    """The log-probabilities of a finished job's answer tokens, in order."""
    return [entry for event in job.reader().available() if isinstance(event, Token) for entry in event.logprobs]


def total_usage(results: Sequence[Finished]) -> Usage:
    """OpenAI counts the prompt once, and the tokens of every answer."""
    return Usage(results[0].usage.prompt_tokens, sum(r.usage.completion_tokens for r in results))


def completion_stream(
    jobs: Sequence[Job],
    *,
    model: str,
    completion_id: str,
    heartbeat: float,
    include_usage: bool,
    logprobs: bool,
) -> Iterator[str]:
    """SSE text for ``jobs`` (choice ``i`` is ``jobs[i]``) until all have finished.

    A client that goes away fails the next write, which closes this generator: ``finally``
    cancels the jobs. Heartbeat comments while nothing happens make that visible in the
    queue too."""
    created = int(time.time())
    readers = [job.reader() for job in jobs]
    ended: dict[int, Finished] = {}
    try:
        for i in range(len(jobs)):
            yield sse(completion_chunk(completion_id, created, model, role="assistant", content="", index=i))
        quiet_since = time.monotonic()
        while len(ended) < len(jobs):
            waiting = [i for i in range(len(jobs)) if i not in ended]
            # Block on one job (briefly when others may have news), then take what the
            # others have: jobs stepped together produce their tokens together.
            first = readers[waiting[0]].next(heartbeat if len(waiting) == 1 else min(heartbeat, 0.05))
            events: list[tuple[int, Event]] = [(waiting[0], first)] if first is not None else []
            events += [(i, event) for i in waiting for event in readers[i].available()]
            if not events:
                if time.monotonic() - quiet_since >= heartbeat:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            quiet_since = time.monotonic()
            for i, event in events:
                if isinstance(event, Token):
                    entries = event.logprobs if logprobs else None
                    yield sse(
                        completion_chunk(completion_id, created, model, content=event.text, index=i, logprobs=entries)
                    )
                elif isinstance(event, Finished):
                    ended[i] = event
                    final = final_chunk(
                        completion_id,
                        created,
                        model,
                        finish_reason=event.finish_reason,
                        usage=event.usage,
                        timings=event.timings,
                        error=error_for(event),
                        index=i,
                        with_usage=not include_usage,
                    )
                    yield sse(final)
        if include_usage:
            yield sse(usage_chunk(completion_id, created, model, total_usage([ended[i] for i in sorted(ended)])))
        yield DONE
    finally:
        for job in jobs:
            job.cancel()
