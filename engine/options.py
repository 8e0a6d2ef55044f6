"""The service's options, written once: flag, environment variable, type, default, help.

The command-line parser (engine.config.config_from_args) and the README's option table
(``python -m engine.options``, checked by a unit test) are both made from ``OPTIONS``; the
parsed values fill the frozen ServiceConfig in engine.config.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cpu.budget import default_directory

if TYPE_CHECKING:
    from engine.config import ServiceProfile

Default = Callable[["ServiceProfile"], "str | int | None"]


@dataclass(frozen=True)
class Option:
    """One option of a service, on its command line and in its environment."""

    flag: str
    """``--port``: the variable is ``RUSCHAT_<SERVICE>_PORT``."""
    help: str
    """What it does, for ``--help`` and the README."""
    shown_default: str
    """The default as the README says it."""
    default: Default = lambda profile: None
    """The default value, which may depend on the service."""
    type: type = str
    choices: tuple[str, ...] | None = None
    low: int | None = None
    """Smallest value accepted (integers)."""
    high: int | None = None
    """Largest value accepted (integers)."""
    shared_env: str | None = None
    """A variable read for both services when the service's own is unset."""
    zero_is_unset: bool = False
    """A variable set to 0 means "not set": the service decides."""

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")

    def env_key(self) -> str:
        return self.dest.upper()

    def check(self, value: object) -> str | None:
        """Why ``value`` is out of range, or None."""
        if not isinstance(value, int):
            return None
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            return f"{self.flag} must be between {self.low} and {self.high}"
        if self.low is not None and value < self.low:
            return f"{self.flag} must not be negative" if self.low == 0 else f"{self.flag} must be at least {self.low}"
        return None


OPTIONS: tuple[Option, ...] = (
    Option("--host", "Bind address", "`127.0.0.1`", lambda p: "127.0.0.1"),
    Option("--port", "Port", "8000 (tinyllama), 8001 (qwen)", lambda p: p.default_port, type=int, low=0, high=65535),
    Option(
        "--db",
        "History database: a SQLite file, or a PostgreSQL URL (`postgresql://user@host/db`, below)",
        "`data/<service>.sqlite3`",
    ),
    Option("--model", "Model file (GGUF)", "named model in `models/`, else the bundled one"),
    Option(
        "--ctx",
        "Context size (tokens) per chat",
        "4096, or the model's training context if smaller",
        type=int,
        low=256,
        zero_is_unset=True,
    ),
    Option(
        "--threads",
        "Most inference threads (fewer while other RusChat services generate or other programs keep cores busy)",
        "all cores",
        type=int,
        zero_is_unset=True,
    ),
    Option(
        "--cpu-dir",
        "Local folder where this machine's services share the CPU (below); `off` never to share",
        "`/tmp/ruschat-cpu-<uid>`",
        lambda p: str(default_directory()),
        shared_env="RUSCHAT_CPU_DIR",
    ),
    Option("--max-queue", "Waiting requests before 503", "8", lambda p: 8, type=int, low=0),
    Option(
        "--parallel",
        "Chats generating at once (batched), each with its own KV cache",
        "4",
        lambda p: 4,
        type=int,
        low=1,
        high=64,
    ),
    Option(
        "--park-mb",
        "RAM (MB) for the KV caches of chats beyond `--parallel`, restored when they return (0 = none kept)",
        "256",
        lambda p: 256,
        type=int,
        low=0,
    ),
    Option(
        "--kv-disk-mb",
        "Disk (MB) for chats' KV caches, so that they survive restarts (0 = none saved)",
        "1024",
        lambda p: 1024,
        type=int,
        low=0,
    ),
    Option(
        "--kv-dir",
        "Folder of the saved KV caches (a subfolder per model file and context)",
        "`data/kv/<service>`",
    ),
    Option(
        "--max-tokens",
        "Most tokens one answer may generate; requests asking more are capped, not refused",
        "the room left in the context",
        type=int,
        low=1,
        zero_is_unset=True,
    ),
    Option(
        "--origins",
        "Allowed browser origins (CORS), comma-separated",
        "`http://localhost:8080,http://127.0.0.1:8080`",
    ),
    Option(
        "--allowed-hosts",
        "Extra names accepted in the Host header, comma-separated",
        "`localhost`, `127.0.0.1`, `::1` only",
    ),
    Option(
        "--summarizer",
        "Who summarises the older messages of chats set to 'summary': `self`, `off` or the fast service's URL",
        "`self` (tinyllama), `http://127.0.0.1:8000` (qwen; `run_all` passes the fast service's address)",
        lambda p: p.default_summarizer,
    ),
    Option(
        "--titles",
        "Chat titles by the fast model after a chat's first answer, at low priority (`--summarizer`'s URL "
        "asks the fast service; `self` or `off`, this service's own model)",
        "`on`",
        lambda p: "on",
        choices=("on", "off"),
    ),
    Option(
        "--max-import-mb",
        "Largest history file `POST /api/import` accepts (MiB)",
        "64",
        lambda p: 64,
        type=int,
        low=1,
    ),
    Option(
        "--api-key",
        "API key every request but /healthz and /openapi.json must carry (`Authorization: Bearer KEY`); "
        "needed to bind beyond loopback",
        "none",
        shared_env="RUSCHAT_API_KEY",
    ),
    Option(
        "--engine-url",
        "Generate on an OpenAI-compatible server (llama-server, vLLM, Ollama...) at this base URL, e.g. "
        "`http://gpu-box:8000/v1`, instead of loading a GGUF here (below)",
        "none (the model runs in the service)",
    ),
    Option("--engine-model", "The upstream's model to ask for", "the first it lists"),
    Option("--engine-key", "The upstream's API key", "none"),
)


def environment_default(option: Option, profile: ServiceProfile, environ: Mapping[str, str]) -> str | int | None:
    """The option's value before the command line: its variable, the shared one, the default."""
    for name in (f"RUSCHAT_{profile.name.upper()}_{option.env_key()}", option.shared_env):
        raw = environ.get(name) if name else None
        if raw not in (None, ""):
            value: str | int = option.type(raw)
            return None if option.zero_is_unset and value == 0 else value
    return option.default(profile)


def parser_for(profile: ServiceProfile, environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The service's argparse parser, every default taken from its environment."""
    prefix = f"RUSCHAT_{profile.name.upper()}"
    command = Path(sys.argv[0]).name  # an installed command (ruschat-fast), or python -m's __main__.py
    parser = argparse.ArgumentParser(
        prog=command if command.startswith("ruschat") else f"python -m backend_{profile.name}",
        description=f"RusChat {profile.label.lower()} inference service. Every option can "
        f"also be set as {prefix}_<OPTION> (e.g. {prefix}_PORT).",
    )
    for option in OPTIONS:
        try:
            default = environment_default(option, profile, environ)
        except ValueError:
            parser.error(f"{prefix}_{option.env_key()} must be a whole number")
        parser.add_argument(
            option.flag,
            type=option.type,
            default=default,
            choices=option.choices,
            help=f"{option.help} (default: {option.shown_default.replace('`', '')})",
        )
    return parser


def parse(
    profile: ServiceProfile, argv: list[str] | None, environ: Mapping[str, str]
) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the options' values: command line over variables over defaults,
    ranges checked (the parser reports what the caller finds wrong beyond them)."""
    parser = parser_for(profile, environ)
    args = parser.parse_args(argv)
    for option in OPTIONS:
        if (problem := option.check(getattr(args, option.dest))) is not None:
            parser.error(problem)
    return parser, args


def readme_table() -> str:
    """The README's table of the service options, made from ``OPTIONS``."""
    rows = ["| What | Service option / variable | Default |", "| --- | --- | --- |"]
    for option in OPTIONS:
        flag = f"`{option.flag}`"
        if option.choices:
            flag = f"`{option.flag} {'|'.join(option.choices)}`".replace("|", "\\|")
        variable = f"`RUSCHAT_<S>_{option.env_key()}`"
        if option.shared_env:
            variable += f" or `{option.shared_env}` (both services)"
        rows.append(f"| {option.help} | {flag} / {variable} | {option.shown_default} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # print the README's table
    print(readme_table(), end="")
