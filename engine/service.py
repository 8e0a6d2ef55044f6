"""The service's parts, built once at start (engine.app) and shared by every request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from engine import __version__
from engine.chat.live import LiveAnswers
from engine.chat.summary import Summarizer
from engine.chat.titles import Titles
from engine.config import ServiceConfig
from engine.inference.protocol import Engine
from engine.scheduling.scheduler import Scheduler
from engine.store.storage import Store
from shared.responses import ServiceInfo
from shared.schemas import GenerationParams


@dataclass
class Service:
    config: ServiceConfig
    engine: Engine
    store: Store
    scheduler: Scheduler
    live: LiveAnswers
    """Chat answers being written now, by message id."""
    titles: Titles
    """Titles the model is writing now (engine.chat.titles)."""
    summarizer: Summarizer | None
    """Who summarises what leaves a long chat's window (``--summarizer``); None: off."""
    started_at: float = field(default_factory=time.time)
    status_sockets: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        self.status_sockets = threading.BoundedSemaphore(self.config.max_status_sockets)

    def capped(self, params: GenerationParams) -> GenerationParams:
        """``params`` with ``max_tokens`` within the operator's bound (``--max-tokens``)."""
        cap = self.config.max_answer_tokens
        return params if cap is None or params.max_tokens <= cap else replace(params, max_tokens=cap)

    def info(self) -> ServiceInfo:
        status = self.scheduler.status()
        return ServiceInfo(
            service=self.config.service,
            label=self.config.label,
            model=self.engine.model_name,
            model_file=self.engine.model_file.rsplit("/", 1)[-1],
            context_size=self.engine.context_size,
            state=status.state,
            queue_depth=status.queue_depth,
            max_queue=self.scheduler.max_queue,
            tokens_per_second=status.tokens_per_second,
            version=__version__,
            slots=self.engine.slots,
            threads=status.threads.threads,
            max_threads=self.scheduler.budget.max_threads,
            threads_reason=status.threads.reason,
            engine="local" if self.config.engine_url is None else "remote",
            degraded=self.engine.degraded(),
        )
