"""``GET /metrics``: the service's counters in Prometheus' text format (prometheus-client).

Each app has its own ``CollectorRegistry`` (tests build many apps in one process, and the
global registry would mix them). Answers are observed where every one of them ends, the
scheduler's worker (``Scheduler(on_finished=...)``), so that chat answers, ``/v1`` answers
(streamed or not) and summaries each count once; the queue gauges are read from the
scheduler when scraped.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from engine.scheduling.jobs import Finished
from engine.scheduling.status import Status

TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds from a job's start (after the queue) to its first token: prompt reading."""
SPEED_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0)
"""Tokens per second while an answer is written (CPU inference: a few to a few dozen)."""


class Metrics:
    """The metrics of one service, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "ruschat_requests",
            "HTTP requests answered, by route, method and status.",
            ("endpoint", "method", "status"),
            registry=self.registry,
        )
        self.answers = Counter(
            "ruschat_answers", "Answers (jobs) ended, by how they ended.", ("finish_reason",), registry=self.registry
        )
        self.background = Counter(
            "ruschat_background_jobs",
            "Background jobs (chat titles) ended, by how they ended (``preempted``: gave the slot "
            "to a user's request). Kept out of the answer metrics.",
            ("finish_reason",),
            registry=self.registry,
        )
        self.titles = Counter(
            "ruschat_titles",
            "Chat titles asked of the model, by outcome: stored, kept (the chat had a title "
            "meanwhile) or failed (none to be had: the chat keeps its opening words).",
            ("outcome",),
            registry=self.registry,
        )
        self.background_active = Gauge(
            "ruschat_background_active", "Background jobs holding a slot or waiting.", registry=self.registry
        )
        self.generated = Counter("ruschat_tokens_generated", "Tokens generated.", registry=self.registry)
        self.prompt = Counter(
            "ruschat_prompt_tokens", "Prompt tokens of the answers (each of an n>1 request's).", registry=self.registry
        )
        self.ttft = Histogram(
            "ruschat_time_to_first_token_seconds",
            "From an answer's start (after its wait in the queue) to its first token.",
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.speed = Histogram(
            "ruschat_decode_tokens_per_second",
            "Decode speed of each answer of two tokens or more.",
            buckets=SPEED_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge("ruschat_queue_depth", "Requests waiting for a slot.", registry=self.registry)
        self.busy_slots = Gauge("ruschat_busy_slots", "Slots generating an answer now.", registry=self.registry)
        self.slots = Gauge("ruschat_slots", "Slots (answers generated at once).", registry=self.registry)

    def finished(self, result: Finished) -> None:
        """Observe one ended job (called on the scheduler's worker, once per job)."""
        if result.background:
            self.background.labels(result.finish_reason).inc()
            return
        self.answers.labels(result.finish_reason).inc()
        self.generated.inc(result.usage.completion_tokens)
        self.prompt.inc(result.usage.prompt_tokens)
        if result.usage.completion_tokens > 0:
            self.ttft.observe(result.timings.ttft_ms / 1000)
        if result.timings.tokens_per_second > 0:
            self.speed.observe(result.timings.tokens_per_second)

    def title_done(self, outcome: str) -> None:
        """Count one title job's end (engine.chat.titles)."""
        self.titles.labels(outcome).inc()

    def watch(self, status: Callable[[], Status], slots: int) -> None:
        """Read the queue gauges from ``status`` at each scrape."""
        self.queue_depth.set_function(lambda: status().queue_depth)
        self.busy_slots.set_function(lambda: status().busy_slots)
        self.background_active.set_function(lambda: status().background)
        self.slots.set(slots)

    def install(self, app: Flask) -> None:
        """Count every response and serve ``GET /metrics``."""

        @app.after_request
        def _count(response: Response) -> Response:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            self.requests.labels(rule, request.method, str(response.status_code)).inc()
            return response

        def metrics() -> Response:
            """The metrics, in the format the scraper asks for (Prometheus text by default)."""
            encode, content_type = choose_encoder(request.headers.get("Accept", ""))
            return Response(encode(self.registry), content_type=content_type)

        app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
