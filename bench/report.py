"""Turning benchmark results into a Markdown table and a chart."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

from bench.restart import rows as restart_rows

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _ok(met: bool) -> str:
    return "met" if met else "**missed**"


def bounded(burst: dict[str, int]) -> bool:
    """Every request of the burst was served or refused with 503, and no more were
    accepted than the slots plus the queue bound."""
    served, refused = burst["ok"], burst["rejected_503"]
    return served + refused == burst["requests"] and refused > 0 and served <= burst["slots"] + burst["max_queue"]


def table(r: dict[str, Any]) -> str:
    m = r["machine"]
    o = r["overhead"]
    c = r["concurrency"]
    s = r["stop"]
    lines = [
        f"Run {m['date']} on {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; Python {m['python']}, "
        f"llama-cpp-python {m['llama_cpp_python']}; model {r['model']}, {r['threads']} threads, "
        f"context {r['context']}. Whole run: {r['seconds']} s.",
        "",
        "| # | Measure | Result | Target | |",
        "| --- | --- | --- | --- | --- |",
        f"| 1 | Decode speed through SSE / in-process | {o['median_service_tps']:.1f} / "
        f"{o['median_in_process_tps']:.1f} tok/s = **{o['ratio']:.3f}** | ≥ 0.97 | {_ok(o['ratio'] >= 0.97)} |",
    ]
    for key, label in (("ttft_cache", "a KV slot per chat"), ("ttft_nocache", "one shared slot")):
        t = r[key]
        a, b = t["A"], t["B"]
        met = max(a["turn10_over_turn1"], b["turn10_over_turn1"]) <= 1.5
        lines.append(
            f"| 2 | TTFT turn 1 → 10, two interleaved chats, {label} | A {a['ttft'][0] * 1000:.0f} → "
            f"{a['ttft'][-1] * 1000:.0f} ms ({a['turn10_over_turn1']:.2f}x); B {b['ttft'][0] * 1000:.0f} → "
            f"{b['ttft'][-1] * 1000:.0f} ms ({b['turn10_over_turn1']:.2f}x) | ≤ 1.5x | {_ok(met)} |"
        )
    single = c["1"]["aggregate_tps"]
    for n in ("1", "2", "4", "6"):
        level = c[n]
        ttfts = ", ".join(f"{t:.2f}" for t in level["ttft"])
        done = ", ".join(f"{t:.1f}" for t in level["completion_s"])
        lines.append(
            f"| 3 | {n} simultaneous chat(s) | {level['aggregate_tps']:.1f} tok/s aggregate "
            f"({level['aggregate_tps'] / single:.2f}x of 1); TTFT s: {ttfts}; done s: {done}; "
            f"FIFO: {'yes' if level['fifo'] else 'no'} | batching: > 1.3x | "
            f"{'' if n == '1' else _ok(level['aggregate_tps'] / single > 1.3)} |"
        )
    burst = c["burst"]
    lines.append(
        f"| 3 | {burst['requests']} at once, {burst['slots']} slots + queue of {burst['max_queue']} | "
        f"{burst['ok']} served, "
        f"{burst['rejected_503']} × 503 | 503 past the bound | "
        f"{_ok(bounded(burst))} |"
    )
    for path, v in r["responsiveness"].items():
        lines.append(
            f"| 4 | `{path}` latency p50 / p99, idle → generating | {v['idle_p50_ms']:.1f} / "
            f"{v['idle_p99_ms']:.1f} → {v['busy_p50_ms']:.1f} / {v['busy_p99_ms']:.1f} ms "
            f"(p99 {v['p99_ratio']:.2f}x) | p99 ≤ 2x | {_ok(v['p99_ratio'] <= 2)} |"
        )
    lines.append(
        f"| 5 | Stop → next request's first token | {s['median_stop_to_next_s'] * 1000:.0f} ms "
        f"(plain TTFT {s['median_plain_ttft_s'] * 1000:.0f} ms) | a fraction of a second | "
        f"{_ok(s['median_stop_to_next_s'] < 0.5)} |"
    )
    for key, label in (("memory", "4 slots, after the whole run"), ("memory_nocache", "1 slot")):
        mem = r[key]
        lines.append(
            f"| 6 | Service resident memory / GGUF size, {label} | {mem['rss_mb']:.0f} MB / "
            f"{mem['gguf_mb']:.0f} MB = {mem['rss_over_gguf']:.1f}x | | |"
        )
    if "contention" in r:
        lines += contention_rows(r["contention"])
    if "restart" in r:
        lines += restart_rows(r["restart"])
    return "\n".join(lines)


def contention_rows(c: dict[str, Any]) -> list[str]:
    """Section 7: the CPU budget, each situation as a ratio to one service alone."""
    targets = c["targets"]

    def seen(counts: dict[str, int]) -> str:
        busy = {k: v for k, v in counts.items() if not k.endswith("idle")}
        return ", ".join(f"{k.replace('_', ' ')} ×{v}" for k, v in sorted(busy.items(), key=lambda kv: -kv[1]))

    rows = [
        f"| 7 | One service alone, budget on / off (as before) | {c['median_alone_tps']:.1f} tok/s; "
        f"**{c['alone_over_today']:.2f}x** of before | ≥ {targets['alone_over_today']}x | "
        f"{_ok(c['alone_over_today'] >= targets['alone_over_today'])} |",
        f"| 7 | Both services generating at once, aggregate / alone | "
        f"{statistics.median(c['both_aggregate_tps']):.1f} tok/s = **{c['both_over_alone']:.2f}x**"
        + (f" (before: {c['before_both_over_alone']:.3f}x)" if "before_both_over_alone" in c else "")
        + f"; threads seen: {seen(c['threads_seen_both'])} | ≥ {targets['both_over_alone']}x | "
        f"{_ok(c['both_over_alone'] >= targets['both_over_alone'])} |",
        f"| 7 | One service beside a foreign CPU-bound process / alone | "
        f"{statistics.median(c['foreign_tps']):.1f} tok/s = **{c['foreign_over_alone']:.2f}x**"
        + (f" (before: {c['before_foreign_over_alone']:.3f}x)" if "before_foreign_over_alone" in c else "")
        + f"; threads seen: {seen(c['threads_seen_foreign'])} | ≥ {targets['foreign_over_alone']}x | "
        f"{_ok(c['foreign_over_alone'] >= targets['foreign_over_alone'])} |",
    ]
    react = c["reaction"]
    rows.append(
        f"| 7 | Threads follow the load: foreign process starts → fewer / ends → all back; the other "
        f"service starts → sharing / ends → all back | {react['foreign_starts_s']:.2f} / "
        f"{react['foreign_ends_s']:.2f} s; {react['other_starts_s']:.2f} / {react['other_ends_s']:.2f} s "
        f"| back within ~1 s | {_ok(max(react['foreign_ends_s'], react['other_ends_s']) <= 1.5)} |"
    )
    rows.append(
        f"| 7 | Cost of the budget check before each step | {c['check_us']:.1f} µs | microseconds | "
        f"{_ok(c['check_us'] < 100)} |"
    )
    return rows


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, style, label in (("ttft_cache", "-", "a slot per chat"), ("ttft_nocache", "--", "one shared slot")):
        for name, color in (("A", "tab:green"), ("B", "tab:blue")):
            ttft = [t * 1000 for t in r[key][name]["ttft"]]
            left.plot(range(1, len(ttft) + 1), ttft, style, color=color, marker="o", label=f"chat {name}, {label}")
    left.set(title="Time to first token, two interleaved chats", xlabel="turn", ylabel="ms")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    levels = ["1", "2", "4", "6"]
    right.bar(levels, [r["concurrency"][n]["aggregate_tps"] for n in levels], color="tab:gray")
    right.axhline(
        r["overhead"]["median_in_process_tps"], color="tab:red", linestyle=":", label="in-process decode, 1 chat"
    )
    right.set(title="Aggregate decode speed", xlabel="simultaneous chats", ylabel="tokens/s")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_markdown(path: Path, table_text: str) -> None:
    """Replace the generated table between the markers, keeping the prose around it."""
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    block = f"{START}\n{table_text}\n{END}"
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    path.write_text(text)
