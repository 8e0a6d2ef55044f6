"""GET /metrics: Prometheus text from a registry of the app's own, every answer counted once."""

from __future__ import annotations

import dataclasses

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from engine.app import create_app, shutdown
from engine.config import ServiceConfig
from engine.cpu.budget import FixedBudget
from engine.scheduling.jobs import Finished
from engine.scheduling.scheduler import Scheduler
from tests.fakes import FakeEngine, job, run_to_end
from tests.support import wait_until
from tests.unit.test_app import chat_body


def samples(client: FlaskClient, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the scrape, by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def test_metrics_parse_and_start_at_zero(client: FlaskClient):
    values = samples(client)
    assert values[("ruschat_tokens_generated_total", ())] == 0
    assert values[("ruschat_prompt_tokens_total", ())] == 0
    assert values[("ruschat_queue_depth", ())] == 0
    assert values[("ruschat_busy_slots", ())] == 0
    assert values[("ruschat_slots", ())] == 1
    assert values[("ruschat_time_to_first_token_seconds_count", ())] == 0
    assert values[("ruschat_decode_tokens_per_second_count", ())] == 0


def test_every_answer_counts_once_whichever_endpoint_asked(client: FlaskClient):
    client.post("/api/chat", json=chat_body()).get_data()
    ask = {"messages": [{"role": "user", "content": "Hi"}]}
    assert client.post("/v1/chat/completions", json=ask).status_code == 200
    client.post("/v1/chat/completions", json={**ask, "stream": True}).get_data()
    values = samples(client)
    assert values[("ruschat_answers_total", (("finish_reason", "stop"),))] == 3
    assert values[("ruschat_tokens_generated_total", ())] == 3 * 4  # the fake engine's four pieces
    assert values[("ruschat_prompt_tokens_total", ())] > 0
    assert values[("ruschat_time_to_first_token_seconds_count", ())] == 3
    assert values[("ruschat_decode_tokens_per_second_count", ())] == 3
    ok = (("endpoint", "/v1/chat/completions"), ("method", "POST"), ("status", "200"))
    assert values[("ruschat_requests_total", ok)] == 2
    assert values[("ruschat_requests_total", (("endpoint", "/api/chat"), ("method", "POST"), ("status", "200")))] == 1


def test_requests_are_counted_by_route_and_status(client: FlaskClient):
    client.get("/api/sessions/00000000-0000-0000-0000-000000000000")
    client.get("/nowhere")
    values = samples(client)
    missing = (("endpoint", "/api/sessions/<session_id>"), ("method", "GET"), ("status", "404"))
    assert values[("ruschat_requests_total", missing)] == 1
    assert values[("ruschat_requests_total", (("endpoint", "unmatched"), ("method", "GET"), ("status", "404")))] == 1


def test_openmetrics_when_the_scraper_asks_for_it(client: FlaskClient):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.mimetype == "application/openmetrics-text"
    assert response.get_data(as_text=True).rstrip().endswith("# EOF")


def test_each_app_has_its_own_registry(app: Flask, config: ServiceConfig, tmp_path):
    other = create_app(
        dataclasses.replace(config, database_url=f"sqlite:///{tmp_path / 'other.sqlite3'}"), FakeEngine()
    )
    try:
        app.test_client().post("/api/chat", json=chat_body()).get_data()
        assert samples(app.test_client())[("ruschat_tokens_generated_total", ())] == 4
        assert samples(other.test_client())[("ruschat_tokens_generated_total", ())] == 0
    finally:
        shutdown(other)


def test_metrics_need_the_key_when_one_is_set(config: ServiceConfig):
    keyed = create_app(dataclasses.replace(config, api_key="k"), FakeEngine())
    try:
        client = keyed.test_client()
        assert client.get("/metrics").status_code == 401
        assert samples(client, Authorization="Bearer k")[("ruschat_slots", ())] == 1
    finally:
        shutdown(keyed)


def test_the_scheduler_reports_every_jobs_end_once_also_cancelled_and_waiting_ones():
    ended: list[Finished] = []
    scheduler = Scheduler(FakeEngine(pieces=["a"] * 50, delay=0.02), 2, FixedBudget(2), on_finished=ended.append)
    scheduler.start()
    try:
        done, running, waiting = job(), job(), job()
        scheduler.submit(done)
        first = run_to_end(done)[1]
        scheduler.submit(running)
        scheduler.submit(waiting)
        wait_until(lambda: scheduler.status().busy_slots == 1, timeout=10, what="a busy slot")
        assert scheduler.status().queue_depth == 1
        waiting.cancel()
        running.cancel()
        results = [first, run_to_end(running)[1], run_to_end(waiting)[1]]
    finally:
        scheduler.stop()
    assert sorted(map(id, ended)) == sorted(map(id, results))  # each end, once
    assert [r.finish_reason for r in results] == ["stop", "cancelled", "cancelled"]
