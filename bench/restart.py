"""Section 8: a long chat's next turn after the service restarts, with and without the
KV caches saved on disk (``--kv-disk-mb``), against the same turn with the cache in its slot."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.measure import TURNS, chat
from tests.support import Process

NOTES = " ".join(
    f"Day {day}: {turn} We talked about it for a while, wrote the answer down, and moved on to the next question."
    for day, turn in enumerate(TURNS * 5, start=1)
)
"""A first message of about 1,400 tokens: the chat is ~1,500 tokens after its first answer."""
QUESTIONS = {
    "warm": ["Which day was the most useful?", "What did we decide about Bergen?", "What is still open?"],
    "disk": ["Which day was the shortest?", "What did we decide about Oslo?", "What should we book first?"],
    "no_disk": ["Which day was the longest?", "What did we decide about food?", "What should we pack first?"],
}
"""A question never asked before in each run, so that every run reads the same new tokens
(a restored state of the very same turn would hold them all)."""


RESTORED = re.compile(r"restored \d+ tokens of KV cache .* from disk in (\d+) ms")


def _next_turn(url: str, session: str, history: list[dict[str, str]], question: str) -> dict[str, Any]:
    result = chat(url, [*history, {"role": "user", "content": question}], session_id=session, max_tokens=16)
    final = result.final or {}
    return {
        "ttft_s": result.ttft,
        "prompt_tokens": final.get("usage", {}).get("prompt_tokens"),
        "cached": final.get("ruschat", {}).get("timings", {}).get("cached_prompt_tokens"),
    }


def restart(start: Callable[..., Process], runs: int = 3) -> dict[str, Any]:
    """``start(*args)`` starts the service (always the same data folder) with extra options.

    Each measured request is the chat's second turn: (a) warm, in the process that
    answered the first turn; (b) after a restart, with the saved caches; (c) after a
    restart with ``--kv-disk-mb 0``.
    """
    session = str(uuid.uuid4())
    history: list[dict[str, str]] = [{"role": "user", "content": NOTES + "\n\nSummarise our plan."}]
    cases: dict[str, list[dict[str, Any]]] = {"warm": [], "disk": [], "no_disk": []}
    restarts: list[float] = []
    service = start()
    try:
        first = chat(service.url, history, session_id=session, max_tokens=64)
        history.append({"role": "assistant", "content": first.text})
        for question in QUESTIONS["warm"][:runs]:
            cases["warm"].append(_next_turn(service.url, session, history, question))
    finally:
        service.stop()
    for run in range(runs):
        for case, args in (("disk", ()), ("no_disk", ("--kv-disk-mb", "0"))):
            began = time.monotonic()
            service = start(*args)
            restarts.append(time.monotonic() - began)
            try:
                result = _next_turn(service.url, session, history, QUESTIONS[case][run])
                restored = RESTORED.findall(service.output())
                if case == "disk" and restored:  # the engine's own timing of the restore
                    result["restore_ms"] = float(restored[-1])
                cases[case].append(result)
            finally:
                service.stop()
    median = {case: statistics.median(r["ttft_s"] for r in results) for case, results in cases.items()}
    return {
        **cases,
        "median_ttft_s": median,
        "disk_over_warm": median["disk"] / median["warm"],
        "no_disk_over_warm": median["no_disk"] / median["warm"],
        "median_restart_s": statistics.median(restarts),
        "median_restore_ms": statistics.median(r.get("restore_ms", float("nan")) for r in cases["disk"]),
        "target_disk_over_warm": 2.0,
    }


def rows(r: dict[str, Any]) -> list[str]:
    """Section 8 of the results table."""
    m = r["median_ttft_s"]
    tokens = r["warm"][0]["prompt_tokens"]
    cached = ", ".join(f"{c}: {statistics.median(x['cached'] for x in r[c])}" for c in ("warm", "disk", "no_disk"))
    return [
        f"| 8 | Next turn of a {tokens}-token chat, TTFT: warm / after a restart with the disk cache / "
        f"without (`--kv-disk-mb 0`) | {m['warm'] * 1000:.0f} / {m['disk'] * 1000:.0f} / "
        f"{m['no_disk'] * 1000:.0f} ms (**{r['disk_over_warm']:.2f}x** / {r['no_disk_over_warm']:.1f}x of warm); "
        f"cached prompt tokens {cached}; reading the state back {r['median_restore_ms']:.0f} ms "
        f"| disk ≤ 2x warm | {'met' if r['disk_over_warm'] <= 2 else '**missed**'} |"
    ]
