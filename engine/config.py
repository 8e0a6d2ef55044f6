"""Service configuration: one frozen dataclass, filled by exactly one function."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine import locations, options
from engine.cpu.budget import usable_cores
from engine.inference.model_files import ModelFile
from engine.locations import REPO_ROOT as REPO_ROOT  # where tests and bench/ find the checkout
from shared.schemas import Limits

DEFAULT_ORIGINS = ("http://localhost:8080", "http://127.0.0.1:8080")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ServiceProfile:
    """What distinguishes one backend from the other; each backend folder defines one."""

    name: str
    """Short service id, used in env var names, file names and stored messages."""
    label: str
    """What the UI calls the service ("Fast", "Capable")."""
    default_port: int
    preferred_model: ModelFile | None = None
    """The named model, used when its file is in the models folder."""
    fallback_chat_template: str | None = None
    """Jinja2 chat template for GGUF files that carry none."""
    default_summarizer: str = "self"
    """Who summarises a long chat's older messages: ``self`` (the fast service) or the
    fast service's URL (the capable one)."""


@dataclass(frozen=True)
class ServiceConfig:
    """Everything one running service needs to know."""

    service: str
    """Short service id (``tinyllama``, ``qwen``)."""
    label: str
    """Display label of the service."""
    model_path: Path
    """GGUF file to load."""
    model_name: str
    """Human-readable model name reported to clients."""
    database_url: str
    """SQLAlchemy URL of the history database."""
    host: str = "127.0.0.1"
    """Address to bind; loopback unless the user asks otherwise."""
    port: int = 8000
    """TCP port to listen on."""
    fallback_chat_template: str | None = None
    """Chat template used when the GGUF has none."""
    context_size: int | None = None
    """Tokens of context per conversation (llama.cpp ``n_ctx``); None: 4096, or the
    model's training context if that is smaller."""
    threads: int = field(default_factory=usable_cores)
    """Most CPU threads for inference; fewer while other services or programs need cores."""
    cpu_dir: Path | None = None
    """Where the services of this machine agree on sharing the cores (engine.cpu.budget); None:
    this service shares with nobody and always runs ``threads`` threads."""
    max_queue: int = 8
    """Requests that may wait for the model; one more gets 503."""
    slots: int = 4
    """Chats generating at once (batched), each with its own KV cache of context_size tokens."""
    park_bytes: int = 256 * 1024 * 1024
    """RAM for the KV caches of chats whose slot went to another chat (0: none kept)."""
    kv_disk_dir: Path | None = None
    """Folder where chats' KV caches are saved to survive restarts (a subfolder per model
    file and context size); None: not saved."""
    kv_disk_bytes: int = 1024 * 1024 * 1024
    """Disk space for saved KV caches; the least recently used go first (0: none saved)."""
    limits: Limits = Limits()
    max_answer_tokens: int | None = None
    """Most tokens one answer may generate: a request asking more is capped (as by the room
    left in the context), not refused. None: only the context bounds it."""
    """Bounds on messages, their length and max_tokens."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body accepted (413 beyond)."""
    max_import_bytes: int = 64 * 1024 * 1024
    """Largest body of ``POST /api/import`` (a whole history's export file; 413 beyond)."""
    allowed_origins: tuple[str, ...] = DEFAULT_ORIGINS
    """Browser origins allowed to call the service (CORS); other origins get 403."""
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    """Names accepted in the Host header (DNS-rebinding defence); others get 403."""
    http_threads: int = 32
    """Request threads of the WSGI server; streams and status sockets each hold one."""
    max_status_sockets: int = 8
    """Concurrent status WebSockets; one more is refused."""
    heartbeat_seconds: float = 1.0
    """Keep-alive interval of SSE streams while a request waits in the queue."""
    summarizer: str = "self"
    """Who writes the summaries of ``context: summary`` chats: ``self`` (this service's
    own model), the base URL of a service with an OpenAI ``/v1/chat/completions``
    endpoint (the fast service), or ``off``."""
    summarizer_timeout: float = 60.0
    """Seconds to wait for a summary (or a title) before going on without one."""
    titles: bool = True
    """After a chat's first answer, the fast model (``summarizer``'s URL, else this
    service's own) proposes a title in the background (engine.chat.titles)."""
    engine_url: str | None = None
    """Base URL (``.../v1``) of an OpenAI-compatible server that generates instead of a
    GGUF loaded here (engine.inference.remote); None: the model runs in this process."""
    engine_model: str | None = None
    """The model to ask the upstream for; None: the first it lists."""
    engine_key: str | None = field(default=None, repr=False)
    """Sent to the upstream as ``Authorization: Bearer``."""
    api_key: str | None = field(default=None, repr=False)  # never in a log line
    """When set, every endpoint but ``/healthz`` and ``/openapi.json`` needs
    ``Authorization: Bearer <key>`` (engine.http.security); None: no key asked."""


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service on this machine (``localhost``, 127.x, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # another name: it may resolve to anything
        return False


def exposure_refusal(host: str, api_key: str | None) -> str | None:
    """Why a service must not start on ``host``, or None: beyond loopback only with a key."""
    if api_key or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host}: other machines could use the model and read the chat history. "
        "Set an API key (--api-key or RUSCHAT_API_KEY) to bind beyond loopback, or use --host 127.0.0.1"
    )


def database_url(value: str) -> str:
    """Accept a SQLAlchemy URL or a plain path to a SQLite file."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def config_from_args(
    profile: ServiceProfile, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Build a service's configuration from its command line and environment.

    Command-line options win over ``RUSCHAT_<SERVICE>_*`` variables, which win over the
    defaults. The only place that reads the environment.
    """
    from engine.inference.model_files import display_name, resolve_model

    environ = os.environ if environ is None else environ
    data_dir, models_dir = locations.data_dir(environ), locations.models_dir(environ)
    parser, args = options.parse(profile, None if argv is None else list(argv), environ)
    summarizer = args.summarizer.strip().rstrip("/")
    if summarizer not in ("self", "off") and not summarizer.startswith(("http://", "https://")):
        parser.error("--summarizer must be 'self', 'off' or an http:// URL")

    engine_url = (args.engine_url or "").strip().rstrip("/") or None
    if engine_url is not None and not engine_url.startswith(("http://", "https://")):
        parser.error("--engine-url must be an http:// or https:// URL")
    if engine_url is not None:
        model_path = Path(engine_url)  # nothing loaded here: the upstream names its model
    elif args.model:
        model_path = Path(args.model).expanduser().resolve()
    else:
        model_path = resolve_model(models_dir, profile.preferred_model)
    db = args.db or str(data_dir / f"{profile.name}.sqlite3")
    origins = (
        tuple(o.strip().rstrip("/") for o in args.origins.split(",") if o.strip()) if args.origins else DEFAULT_ORIGINS
    )
    extra_hosts = tuple(h.strip() for h in (args.allowed_hosts or "").split(",") if h.strip())
    hosts = tuple(
        dict.fromkeys(LOCAL_HOSTS + ((args.host,) if args.host not in ("0.0.0.0", "::") else ()) + extra_hosts)
    )
    kwargs = {"threads": args.threads} if args.threads else {}
    return ServiceConfig(
        service=profile.name,
        label=profile.label,
        model_path=model_path,
        model_name=display_name(model_path, profile.preferred_model),
        database_url=database_url(db),
        host=args.host,
        port=args.port,
        fallback_chat_template=profile.fallback_chat_template,
        context_size=args.ctx,
        max_queue=args.max_queue,
        slots=args.parallel,
        park_bytes=args.park_mb * 1024 * 1024,
        kv_disk_dir=Path(args.kv_dir).expanduser() if args.kv_dir else data_dir / "kv" / profile.name,
        kv_disk_bytes=args.kv_disk_mb * 1024 * 1024,
        max_import_bytes=args.max_import_mb * 1024 * 1024,
        max_answer_tokens=args.max_tokens,
        allowed_origins=origins,
        allowed_hosts=hosts,
        http_threads=args.max_queue + args.parallel + 20,
        cpu_dir=None if args.cpu_dir == "off" else Path(args.cpu_dir).expanduser(),
        summarizer=summarizer,
        api_key=args.api_key or None,
        titles=args.titles == "on",
        engine_url=engine_url,
        engine_model=args.engine_model or None,
        engine_key=args.engine_key or None,
        **kwargs,
    )
