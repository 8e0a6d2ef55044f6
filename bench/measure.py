"""The measurements: each drives a real service process over HTTP on loopback.

Every timing is taken on the client side, the way a user experiences it. Ratios compare
runs made in the same process tree, alternating, so that machine noise hits both sides.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from engine.cpu.budget import RECOVERY_SAMPLES, SAMPLE_SECONDS
from tests.support import content_of, iter_chunks

LONG_PROMPT = "Write a long, detailed essay about the history of the printing press, with many sections."
TURNS = [
    "Hi! I want to plan a trip to Norway.",
    "Which cities should I visit?",
    "What is the best month to go?",
    "How many days in Oslo?",
    "What food should I try?",
    "Is it expensive?",
    "How do I get from Oslo to Bergen?",
    "What about the fjords?",
    "What should I pack?",
    "Summarise the plan in three lines.",
]
OTHER_TURNS = [
    "Hello! Teach me about volcanoes.",
    "Why do they erupt?",
    "Which one is the biggest?",
    "Are there volcanoes in Europe?",
    "What is lava made of?",
    "How hot is it?",
    "Can we predict eruptions?",
    "What happened at Pompeii?",
    "Are volcanoes useful?",
    "Summarise in three lines.",
]


@dataclass
class Stream:
    """One streamed answer as the client saw it."""

    sent: float
    chunk_times: list[float] = field(default_factory=list)
    text: str = ""
    final: dict[str, Any] | None = None
    status: int = 200
    ended: float = 0.0

    @property
    def ttft(self) -> float:
        return self.chunk_times[0] - self.sent if self.chunk_times else float("nan")

    @property
    def decode_rate(self) -> float:
        """Text chunks per second between the first and the last (one chunk per token)."""
        if len(self.chunk_times) < 2:
            return float("nan")
        return (len(self.chunk_times) - 1) / (self.chunk_times[-1] - self.chunk_times[0])


def chat(
    url: str,
    messages: list[dict[str, str]],
    session_id: str | None = None,
    max_tokens: int = 64,
    stop_after: int | None = None,
) -> Stream:
    """POST /api/chat and read the stream; after ``stop_after`` chunks, press Stop (an answer
    outlives its stream: closing it alone would let the answer run on), ``ended`` the moment
    Stop was pressed."""
    body = {
        "session_id": session_id or str(uuid.uuid4()),
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"id": str(uuid.uuid4()), **m} for m in messages],
    }
    result = Stream(sent=time.perf_counter())
    message_id = None
    with requests.post(url + "/api/chat", json=body, stream=True, timeout=300) as response:
        result.status = response.status_code
        if response.status_code != 200:
            result.ended = time.perf_counter()
            return result
        for arrived, chunk in iter_chunks(response):
            if chunk is None:
                continue
            message_id = message_id or (chunk.get("ruschat") or {}).get("message_id")
            if content := content_of(chunk):
                result.chunk_times.append(arrived)
                result.text += content
            if "usage" in chunk:
                result.final = chunk
            if stop_after is not None and len(result.chunk_times) >= stop_after:
                result.ended = time.perf_counter()
                stop = f"{url}/api/sessions/{body['session_id']}/messages/{message_id}/stop"
                requests.post(stop, timeout=30).raise_for_status()
                return result
    result.ended = time.perf_counter()
    return result


def settle() -> None:
    """Wait until the services' CPU meters no longer count the load we made a moment ago."""
    time.sleep(SAMPLE_SECONDS * (RECOVERY_SAMPLES + 3))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def streaming_overhead(url: str, model: Path, threads: int, ctx: int, runs: int, tokens: int) -> dict[str, Any]:
    """Decode speed through the service's SSE endpoint against llama-cpp-python in-process."""
    from llama_cpp import Llama

    from engine.inference.llama import LlamaEngine

    prompt = LlamaEngine(str(model), "tokens", context_size=ctx, threads=threads, slots=1).prepare(
        [{"role": "user", "content": LONG_PROMPT}]
    )
    # The engine we wrap, as its users call it: llama-cpp-python's Llama, in this process.
    llama = Llama(str(model), n_ctx=ctx, n_threads=threads, n_threads_batch=threads, verbose=False)

    def in_process() -> float:
        times = []
        for chunk in llama.create_completion(list(prompt.tokens), max_tokens=tokens, temperature=0, stream=True):
            if chunk["choices"][0]["text"]:
                times.append(time.perf_counter())
        return (len(times) - 1) / (times[-1] - times[0])

    direct, served = [], []
    for _ in range(runs):  # alternate, so that noise hits both sides alike
        direct.append(in_process())
        settle()  # to the service's CPU meter, the in-process run was foreign load
        served.append(chat(url, [{"role": "user", "content": LONG_PROMPT}], max_tokens=tokens).decode_rate)
    ratio = statistics.median(served) / statistics.median(direct)
    return {
        "in_process_tps": direct,
        "service_tps": served,
        "median_in_process_tps": statistics.median(direct),
        "median_service_tps": statistics.median(served),
        "ratio": ratio,
        "target": 0.97,
    }


def ttft_across_turns(url: str, max_tokens: int = 48) -> dict[str, Any]:
    """Two 10-turn conversations, interleaved turn by turn; TTFT of every turn."""
    conversations: dict[str, dict[str, Any]] = {
        "A": {"id": str(uuid.uuid4()), "history": [], "turns": TURNS, "ttft": [], "prompt_tokens": [], "cached": []},
        "B": {
            "id": str(uuid.uuid4()),
            "history": [],
            "turns": OTHER_TURNS,
            "ttft": [],
            "prompt_tokens": [],
            "cached": [],
        },
    }
    for turn in range(len(TURNS)):
        for conv in conversations.values():
            conv["history"].append({"role": "user", "content": conv["turns"][turn]})
            result = chat(url, conv["history"], session_id=conv["id"], max_tokens=max_tokens)
            conv["history"].append({"role": "assistant", "content": result.text})
            conv["ttft"].append(result.ttft)
            usage = (result.final or {}).get("usage", {})
            timings = (result.final or {}).get("ruschat", {}).get("timings", {})
            conv["prompt_tokens"].append(usage.get("prompt_tokens"))
            conv["cached"].append(timings.get("cached_prompt_tokens"))
    return {
        name: {k: v for k, v in conv.items() if k in ("ttft", "prompt_tokens", "cached")}
        | {"turn10_over_turn1": conv["ttft"][-1] / conv["ttft"][0]}
        for name, conv in conversations.items()
    }


def simultaneous(url: str, prompts: list[str], max_tokens: int, stagger: float = 0.02) -> list[Stream]:
    """Send the chats at (nearly) the same time, in a defined arrival order; results in that order."""
    with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
        futures = []
        for prompt in prompts:
            futures.append(pool.submit(chat, url, [{"role": "user", "content": prompt}], max_tokens=max_tokens))
            time.sleep(stagger)
        return [f.result() for f in futures]


def concurrency(url: str, max_tokens: int = 96) -> dict[str, Any]:
    """1, 2, 4 and 6 simultaneous chats; then more than the slots and the queue hold."""
    info = requests.get(url + "/api/info", timeout=10).json()
    slots, max_queue = info["slots"], info["max_queue"]
    levels: dict[str, Any] = {}
    for n in (1, 2, 4, 6):
        started = time.perf_counter()
        results = simultaneous(url, [f"{LONG_PROMPT} (variant {i})" for i in range(n)], max_tokens)
        wall = time.perf_counter() - started
        firsts = [r.chunk_times[0] for r in results]
        # Chats beyond the slots wait; fair means they start in arrival order, after the others.
        queued = firsts[slots:]
        levels[str(n)] = {
            "aggregate_tps": sum(len(r.chunk_times) for r in results) / wall,
            "ttft": [r.ttft for r in results],
            "completion_s": [r.ended - r.sent for r in results],
            "fifo": queued == sorted(queued) and all(q >= max(firsts[:slots]) for q in queued),
        }
    burst = slots + max_queue + 3
    statuses = [r.status for r in simultaneous(url, [f"Say {i}." for i in range(burst)], 16, stagger=0)]
    levels["burst"] = {
        "requests": burst,
        "slots": slots,
        "max_queue": max_queue,
        "ok": statuses.count(200),
        "rejected_503": statuses.count(503),
    }
    return levels


def responsiveness(url: str, samples: int = 200) -> dict[str, Any]:
    """/healthz and GET /api/sessions latency, idle and while the model generates."""

    def measure(path: str) -> list[float]:
        latencies = []
        with requests.Session() as session:
            for _ in range(samples):
                started = time.perf_counter()
                session.get(url + path, timeout=30).raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
        return latencies

    result: dict[str, Any] = {}
    for path in ("/healthz", "/api/sessions"):
        idle = measure(path)
        generating = threading.Thread(
            target=chat, args=(url, [{"role": "user", "content": LONG_PROMPT}]), kwargs={"max_tokens": 1500}
        )
        generating.start()
        time.sleep(0.5)
        busy = measure(path)
        info = requests.get(url + "/api/info", timeout=10).json()
        generating.join()
        result[path] = {
            "idle_p50_ms": percentile(idle, 0.5),
            "idle_p99_ms": percentile(idle, 0.99),
            "busy_p50_ms": percentile(busy, 0.5),
            "busy_p99_ms": percentile(busy, 0.99),
            "p99_ratio": percentile(busy, 0.99) / percentile(idle, 0.99),
            "was_busy": info["state"] == "busy",
        }
    return result


def stop_latency(url: str, runs: int = 5) -> dict[str, Any]:
    """From closing a stream mid-answer to the next request's first token, against a plain TTFT."""
    question = [{"role": "user", "content": "Say hello to Ada."}]
    after_stop, plain = [], []
    for _ in range(runs):
        plain.append(chat(url, question, max_tokens=8).ttft)
        stopped = chat(url, [{"role": "user", "content": LONG_PROMPT}], max_tokens=1500, stop_after=20)
        follow = chat(url, question, max_tokens=8)
        after_stop.append(follow.chunk_times[0] - stopped.ended)
    return {
        "stop_to_next_first_token_s": after_stop,
        "plain_ttft_s": plain,
        "median_stop_to_next_s": statistics.median(after_stop),
        "median_plain_ttft_s": statistics.median(plain),
    }


def memory(worker_pid: int, model: Path) -> dict[str, Any]:
    status = Path(f"/proc/{worker_pid}/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    size = model.stat().st_size
    return {"rss_mb": rss_kb / 1024, "gguf_mb": size / 1024 / 1024, "rss_over_gguf": rss_kb * 1024 / size}
