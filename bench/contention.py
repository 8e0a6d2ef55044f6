"""Section 7 of the benchmark: services sharing the CPU, with each other and with a
foreign CPU-bound process, against one service alone (the CPU budget, engine/cpu/budget.py)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from bench.measure import LONG_PROMPT, Stream, chat, settle
from engine.cpu.budget import CpuBudget
from tests.support import InfoWatch


@contextmanager
def foreign_load() -> Iterator[subprocess.Popen[bytes]]:
    """One CPU-bound process that is not ours (a build, a busy browser tab)."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # let the services' load meters see it
        yield busy
    finally:
        busy.kill()
        busy.wait()


def threads_summary(seen: list[list[dict[str, Any]]]) -> dict[str, int]:
    """How often each thread count and reason was seen while busy, e.g. ``{"1 sharing": 40}``."""
    counts: dict[str, int] = {}
    for infos in seen:
        for info in infos:
            if info["state"] == "busy":
                key = f"{info['threads']} {info['threads_reason']}"
                counts[key] = counts.get(key, 0) + 1
    return counts


def aggregate_rate(streams: list[Stream]) -> float:
    """Tokens per second of several streams together, from the first token of any to the last."""
    first = min(s.chunk_times[0] for s in streams)
    last = max(s.chunk_times[-1] for s in streams)
    return sum(len(s.chunk_times) for s in streams) / (last - first)


def at_once(urls: list[str], max_tokens: int) -> list[Stream]:
    question = [{"role": "user", "content": LONG_PROMPT}]
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        return list(pool.map(lambda url: chat(url, question, max_tokens=max_tokens), urls))


def wait_for_threads(url: str, condition: Any, timeout: float = 30) -> float:
    """Seconds until the service's /api/info satisfies ``condition`` (polled every 20 ms)."""
    started = time.perf_counter()
    with requests.Session() as session:
        while time.perf_counter() - started < timeout:
            if condition(session.get(url + "/api/info", timeout=10).json()):
                return time.perf_counter() - started
            time.sleep(0.02)
    return float("nan")


def reaction_times(shared: list[str]) -> dict[str, float]:
    """How fast a generating service's threads follow the load: foreign load starting and
    ending, the other service starting and going idle."""
    question = [{"role": "user", "content": LONG_PROMPT}]
    full = requests.get(shared[0] + "/api/info", timeout=10).json()["max_threads"]
    result: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        long_answer = pool.submit(chat, shared[0], question, max_tokens=1500)
        wait_for_threads(shared[0], lambda i: i["threads"] == full)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            result["foreign_starts_s"] = wait_for_threads(shared[0], lambda i: i["threads_reason"] == "foreign_load")
        finally:
            busy.kill()
            busy.wait()
        result["foreign_ends_s"] = wait_for_threads(shared[0], lambda i: i["threads"] == full)
        other = pool.submit(chat, shared[1], question, max_tokens=128)
        result["other_starts_s"] = wait_for_threads(shared[0], lambda i: i["threads_reason"] == "sharing")
        other.result()
        ended = time.perf_counter()
        wait_for_threads(shared[0], lambda i: i["threads"] == full)
        result["other_ends_s"] = time.perf_counter() - ended
        long_answer.result()
    return result


def budget_check_cost(folder: Path, calls: int = 20000) -> float:
    """Microseconds one CpuBudget.acquire() takes (what a service pays before each step)."""
    budget = CpuBudget(folder, max_threads=2)
    try:
        budget.acquire()
        started = time.perf_counter()
        for _ in range(calls):
            budget.acquire()
        return (time.perf_counter() - started) / calls * 1e6
    finally:
        budget.close()


def contention(shared: list[str], unshared: list[str], runs: int, tokens: int, before_tokens: int) -> dict[str, Any]:
    """Two services of one machine, and a foreign CPU-bound process, with and without the budget.

    ``shared`` are two services that share the CPU budget, ``unshared`` two that do not
    (``--cpu-dir off``: every service runs all its threads, as before the budget).
    Ratios compare with "alone" measured in the same run, alternating.
    """
    question = [{"role": "user", "content": LONG_PROMPT}]
    alone, today_alone, both, foreign = [], [], [], []
    seen_both: list[list[dict[str, Any]]] = []
    seen_foreign: list[list[dict[str, Any]]] = []
    for run in range(runs + 2):  # the smallest difference to resolve: more samples
        # ABBA order, so that a drift of the machine's speed hits both sides alike.
        for side in (today_alone, alone) if run % 2 == 0 else (alone, today_alone):
            url = unshared[0] if side is today_alone else shared[0]
            side.append(chat(url, question, max_tokens=tokens).decode_rate)
            settle()  # a service that does not share is foreign load to those that do
    for _ in range(runs):
        with InfoWatch(shared, every=0.1) as watching:
            both.append(aggregate_rate(at_once(shared, tokens)))
        seen_both += watching.seen
        with foreign_load(), InfoWatch(shared[:1], every=0.1) as watching:
            foreign.append(chat(shared[0], question, max_tokens=tokens).decode_rate)
        seen_foreign += watching.seen
        settle()
    result: dict[str, Any] = {
        "tokens": tokens,
        "alone_tps": alone,
        "today_alone_tps": today_alone,
        "both_aggregate_tps": both,
        "foreign_tps": foreign,
        "median_alone_tps": statistics.median(alone),
        "alone_over_today": statistics.median(alone) / statistics.median(today_alone),
        "both_over_alone": statistics.median(both) / statistics.median(alone),
        "foreign_over_alone": statistics.median(foreign) / statistics.median(alone),
        "threads_seen_both": threads_summary(seen_both),
        "threads_seen_foreign": threads_summary(seen_foreign),
        "targets": {"alone_over_today": 0.95, "both_over_alone": 1.0, "foreign_over_alone": 0.45},
    }
    result["reaction"] = reaction_times(shared)
    if before_tokens:
        # The same situations without the budget, short answers: they crawl.
        result["before_tokens"] = before_tokens
        result["before_both_over_alone"] = aggregate_rate(at_once(unshared, before_tokens)) / statistics.median(
            today_alone
        )
        with foreign_load():
            slow = chat(unshared[0], question, max_tokens=before_tokens).decode_rate
        result["before_foreign_over_alone"] = slow / statistics.median(today_alone)
    return result
