"""The application factory: ``create_app(config)`` builds one service."""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.engine import make_url

from engine.chat.live import LiveAnswers
from engine.chat.summary import summarizer_for
from engine.chat.titles import Titles
from engine.chat.writer import Writer, writer_for
from engine.config import ServiceConfig
from engine.cpu.budget import Budget, CpuBudget, FixedBudget
from engine.http import chat_api, errors, history_api, openai_api, openapi, security, status, transfer_api
from engine.http.metrics import Metrics
from engine.http.state import attach
from engine.inference.llama import LlamaEngine
from engine.inference.protocol import Engine
from engine.inference.remote import RemoteEngine
from engine.scheduling.scheduler import Scheduler
from engine.service import Service
from engine.store.storage import STALE_AFTER, Store

log = logging.getLogger(__name__)


def load_engine(config: ServiceConfig) -> Engine:
    """The upstream named by ``--engine-url``, else the GGUF loaded in this process."""
    if config.engine_url is not None:
        return RemoteEngine(
            config.engine_url,
            model=config.engine_model,
            api_key=config.engine_key,
            context_size=config.context_size,
            slots=config.slots,
        )
    return LlamaEngine(
        str(config.model_path),
        config.model_name,
        context_size=config.context_size,
        threads=config.threads,
        slots=config.slots,
        park_bytes=config.park_bytes,
        kv_disk_dir=config.kv_disk_dir,
        kv_disk_bytes=config.kv_disk_bytes,
        fallback_chat_template=config.fallback_chat_template,
    )


def cpu_budget(config: ServiceConfig) -> Budget:
    """The machine-wide budget shared with the other services, or a fixed one (``--cpu-dir
    off``, or an upstream engine: it uses another machine's cores)."""
    if config.cpu_dir is None or config.engine_url is not None:
        return FixedBudget(config.threads)
    try:
        return CpuBudget(config.cpu_dir, config.threads)
    except OSError as error:  # e.g. a directory owned by someone else: serve, unshared
        log.warning("cannot share the CPU through %s (%s): using %d threads", config.cpu_dir, error, config.threads)
        return FixedBudget(config.threads)


def title_writer(config: ServiceConfig, engine: Engine, scheduler: Scheduler) -> Writer | None:
    """Who titles chats: the fast service (the summariser's URL), else this service's model."""
    if not config.titles:
        return None
    url = "self" if config.summarizer == "off" else config.summarizer
    return writer_for(url, engine, scheduler, config.service, config.summarizer_timeout, config.api_key)


def create_app(config: ServiceConfig, engine: Engine | None = None) -> Flask:
    """Build the service. Tests pass a scripted ``engine``; production loads the GGUF."""
    app = Flask(__name__, static_folder=None)  # no static files: every route is in /openapi.json
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = Store(config.database_url)
    engine = engine or load_engine(config)
    # Answers left generating by a process that died: on a database only we write (a SQLite
    # file), every one of them, at once. On a shared one (PostgreSQL) only those whose
    # heartbeat stopped, after the model loaded, when they are likelier stale (the rest are
    # taken by the LiveAnswers sweep as soon as their heartbeat is): another service may be
    # writing the others.
    interrupted = store.mark_interrupted(None if store.exclusive else STALE_AFTER)
    if interrupted:
        log.warning("%d answer(s) lost the process writing them: marked interrupted", interrupted)
    metrics = Metrics()
    scheduler = Scheduler(engine, config.max_queue, cpu_budget(config), on_finished=metrics.finished)
    metrics.watch(scheduler.status, engine.slots)
    scheduler.start()
    attach(
        app,
        Service(
            config=config,
            engine=engine,
            store=store,
            scheduler=scheduler,
            live=LiveAnswers(store),
            titles=Titles(store, title_writer(config, engine, scheduler), on_done=metrics.title_done),
            summarizer=summarizer_for(
                config.summarizer, engine, scheduler, config.service, config.summarizer_timeout, config.api_key
            ),
        ),
    )
    errors.register_error_handlers(app)
    security.install(app, config)
    app.register_blueprint(history_api.bp)
    app.register_blueprint(chat_api.bp)
    app.register_blueprint(openai_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(transfer_api.bp)
    status.install(app)
    metrics.install(app)
    log.info(
        "%s service ready: %s (%s), history in %s",
        config.label,
        engine.model_name,
        config.engine_url or config.model_path.name,
        make_url(config.database_url).render_as_string(hide_password=True),
    )
    return app


def shutdown(app: Flask, timeout: float = 5.0) -> None:
    """Stop generating, end open streams and status sockets, finish saving KV caches,
    close the database."""
    service: Service = app.extensions["ruschat"]
    service.titles.close()  # before the scheduler: its jobs end, and no title is stored
    service.scheduler.stop(timeout)  # running answers end, stored as interrupted
    service.live.close()
    service.engine.close()
    service.store.close()
