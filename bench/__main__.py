"""Benchmark the services against the engine they wrap: ``python -m bench``.

Starts real service processes on free loopback ports with the bundled model, runs the
measurements of bench.measure, prints a table, and writes docs/bench/results.json,
docs/bench/curves.png and the table in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import contention, history, measure, report, restart
from bench import start as page_start
from engine.config import REPO_ROOT
from engine.inference.model_files import BUNDLED
from tests.support import Process, service_process

OUT = REPO_ROOT / "docs" / "bench"


def machine() -> dict[str, Any]:
    import llama_cpp

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:"))
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "os": platform.platform(),
    }


def start(folder: Path, name: str, model: Path, threads: int, ctx: int, *extra: str) -> Process:
    return service_process(
        "backend_qwen",
        folder / f"{name}.sqlite3",
        folder / f"{name}.log",
        "--model",
        str(model),
        "--threads",
        str(threads),
        "--ctx",
        str(ctx),
        *extra,
    ).start()


def run_contention(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Two services sharing the CPU budget, and two that do not (as before it existed)."""
    cpu_dir = str(folder / "cpu")
    services = [
        start(folder, f"contention-{name}", args.model, args.threads, args.ctx, "--cpu-dir", where)
        for name, where in (("shared-a", cpu_dir), ("shared-b", cpu_dir), ("unshared-a", "off"), ("unshared-b", "off"))
    ]
    try:
        urls = [s.url for s in services]
        result = contention.contention(
            urls[:2], urls[2:], runs=2 if args.quick else 3, tokens=args.tokens, before_tokens=0 if args.quick else 16
        )
    finally:
        for service in services:
            service.stop()
    result["check_us"] = contention.budget_check_cost(folder / "check")
    return result


def run_restart(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """A long chat's next turn after a restart, with and without the KV caches on disk."""
    own = folder / "restart"  # its own data folder: no other section's saved caches
    own.mkdir(exist_ok=True)
    return restart.restart(
        lambda *extra: start(own, "restart", args.model, args.threads, args.ctx, *extra), runs=2 if args.quick else 3
    )


def run_history(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The page with 10,000 chats in each service: page ready and opening a chat."""
    if args.quick:
        return history.history(folder, chats=500, runs=2)
    return history.history(folder)


def run_start(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The page's start in headless Chromium, warm and cold."""
    return page_start.start(folder, runs=2 if args.quick else 5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / BUNDLED.filename)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=5, help="alternating runs for the overhead median")
    parser.add_argument("--tokens", type=int, default=256, help="tokens per overhead run")
    parser.add_argument("--quick", action="store_true", help="fewer runs and samples (a smoke test)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--only",
        choices=["contention", "restart", "history", "start"],
        help="run one section, print its results and write them to <out>/<section>.json (nothing else)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.tokens = 2, 64
    if not args.model.is_file():
        sys.exit(f"error: {args.model} not found: run python3 scripts/setup.py first")
    if args.only:
        section = {
            "contention": run_contention,
            "restart": run_restart,
            "history": run_history,
            "start": run_start,
        }[args.only]
        with tempfile.TemporaryDirectory(prefix="ruschat-bench-") as tmp:
            result = {
                "machine": machine(),
                "model": args.model.name,
                "threads": args.threads,
                args.only: section(Path(tmp), args),
            }
        print(json.dumps(result, indent=2))
        if args.only == "restart":
            print("\n" + "\n".join(restart.rows(result["restart"])))
        if args.only == "history":
            print("\n" + "\n".join(history.rows(result["history"])))
            if not args.quick:
                history.update_markdown(
                    REPO_ROOT / "docs" / "BENCHMARKS.md", result["history"], result["machine"]["date"]
                )
        if args.only == "start":
            print("\n" + "\n".join(page_start.rows(result["start"])))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.only}.json").write_text(json.dumps(result, indent=2))
        return 0

    results: dict[str, Any] = {
        "machine": machine(),
        "model": args.model.name,
        "threads": args.threads,
        "context": args.ctx,
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ruschat-bench-") as tmp:
        folder = Path(tmp)
        max_queue = 4
        service = start(folder, "main", args.model, args.threads, args.ctx, "--max-queue", str(max_queue))
        try:
            print("1/9 streaming overhead", flush=True)
            results["overhead"] = measure.streaming_overhead(
                service.url, args.model, args.threads, args.ctx, args.runs, args.tokens
            )
            print("2/9 time to first token across turns (a KV slot per chat)", flush=True)
            results["ttft_cache"] = measure.ttft_across_turns(service.url)
            print("3/9 concurrency", flush=True)
            results["concurrency"] = measure.concurrency(service.url)
            print("4/9 responsiveness", flush=True)
            results["responsiveness"] = measure.responsiveness(service.url, samples=50 if args.quick else 200)
            print("5/9 stop latency", flush=True)
            results["stop"] = measure.stop_latency(service.url, runs=2 if args.quick else 5)
            print("6/9 memory", flush=True)
            results["memory"] = measure.memory(service.worker_pid(), args.model)
        finally:
            service.stop()
        print("2b/9 time to first token across turns (one slot, nothing parked: no reuse across chats)", flush=True)
        plain = start(
            folder,
            "nocache",
            args.model,
            args.threads,
            args.ctx,
            "--parallel",
            "1",
            "--park-mb",
            "0",
            "--kv-disk-mb",
            "0",
        )
        try:
            results["ttft_nocache"] = measure.ttft_across_turns(plain.url)
            results["memory_nocache"] = measure.memory(plain.worker_pid(), args.model)
        finally:
            plain.stop()
        print("7/9 contention: two services, and a foreign CPU-bound process", flush=True)
        results["contention"] = run_contention(folder, args)
        print("8/9 a long chat's next turn after a restart (KV caches on disk)", flush=True)
        results["restart"] = run_restart(folder, args)
        print("9/9 the page with 10,000 chats in each service", flush=True)
        results["history"] = run_history(folder, args)
    results["seconds"] = round(time.monotonic() - started, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    report.chart(results, args.out / "curves.png")
    table = report.table(results)
    print("\n" + table)
    if not args.quick:
        report.update_markdown(REPO_ROOT / "docs" / "BENCHMARKS.md", table)
        history.update_markdown(REPO_ROOT / "docs" / "BENCHMARKS.md", results["history"], results["machine"]["date"])
    print(f"\nwrote {args.out / 'results.json'} and {args.out / 'curves.png'} in {results['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
