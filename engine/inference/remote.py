"""An engine on another machine: any OpenAI-compatible server (llama.cpp's llama-server,
vLLM, Ollama, llama-cpp-python's server) generates; this service keeps everything else
(history, the queue bound, stop, reattach, the error shape).

Each started chat is one streamed ``POST {url}/chat/completions`` read by a thread of
its own; :meth:`RemoteEngine.step` hands the scheduler what the streams brought since
the last step. Stopping a chat closes its connection, which is how an OpenAI-compatible
server learns to free the slot.
"""

from __future__ import annotations

import codecs
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from engine.inference.protocol import DEFAULT_CONTEXT, MIN_ANSWER_TOKENS, Prompt, PromptTooLong, Step, answer_budget
from shared.chunks import logprobs_of
from shared.schemas import GenerationParams
from shared.sse import SSEDecoder

log = logging.getLogger(__name__)

PER_MESSAGE_TOKENS = 8
"""What a chat template adds around each message (role markers), counted generously:
a prompt estimated too long is refused here rather than cut off upstream."""
PER_PROMPT_TOKENS = 16
"""What it adds once (a default system prompt, the assistant's opening)."""
CONNECT_TIMEOUT = 5.0
HEALTH_EVERY = 5.0
"""Seconds between two questions to the upstream about its health."""
BUSY_STATUSES = (429, 503)
DEFAULT_RETRY_AFTER = 5.0


@dataclass(eq=False)
class _Stream:
    """One chat being generated upstream."""

    key: Hashable
    steps: list[Step] = field(default_factory=list)
    """Read from the upstream, not yet handed to the scheduler."""
    n_tokens: int = 0
    response: requests.Response | None = None
    stopped: bool = False
    """Stopped by us: what the connection does next is not an error."""


TOKENIZERS: dict[str, Callable[[str, str], tuple[str, dict[str, str]]]] = {
    "llama-server": lambda _model, text: ("/tokenize", {"content": text}),
    "vllm": lambda model, text: ("/tokenize", {"model": model, "prompt": text}),
    "llama-cpp-python": lambda model, text: ("/extras/tokenize", {"model": model, "input": text}),
}
"""Where each kind of server counts tokens (each answers ``{"tokens": [...]}``), tried in
turn until one answers; none: an estimate."""


class UpstreamError(Exception):
    """The upstream answered, but not with an answer."""


class RemoteEngine:
    """Generation by an OpenAI-compatible server at ``url`` (its ``/v1`` base)."""

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        context_size: int | None = None,
        slots: int = 4,
        timeout: float = 300.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.base = self.url.removesuffix("/v1")
        """The server's root, where llama-server and vLLM keep ``/tokenize``."""
        self.slots = slots
        self.timeout = timeout
        self._http = requests.Session()
        self._http.trust_env = False  # a proxy variable must not reroute a private chat
        if api_key:
            self._http.headers["Authorization"] = f"Bearer {api_key}"
        self._cond = threading.Condition()
        self._streams: dict[Hashable, _Stream] = {}
        self._busy_until = 0.0
        self._problem: str | None = None
        self._closed = threading.Event()
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._tokenize: str | None = None
        """How this upstream counts tokens: a key of TOKENIZERS, or ``estimate``."""
        self._asked = (model, context_size)
        self._learn(self._discover())
        threading.Thread(target=self._watch, name="upstream-health", daemon=True).start()

    def _learn(self, upstream: dict[str, Any]) -> None:
        """Name the model and size the context as asked, else as the upstream says."""
        model, context_size = self._asked
        self.model_name = model or upstream.get("model") or "remote model"
        self.context_size = context_size or upstream.get("context_size") or DEFAULT_CONTEXT
        self.model_file = upstream.get("model") or self.model_name
        self._known = bool(upstream)

    # ------------------------------------------------------------------ what it serves
    def _discover(self) -> dict[str, Any]:
        """The upstream's model and context size, where it says them (unreachable: nothing)."""
        found: dict[str, Any] = {}
        try:
            models = self._get_json(f"{self.url}/models")["data"]
            first = models[0]
            found["model"] = str(first["id"])
            # vLLM says max_model_len; llama-server the training context in meta.
            context = first.get("max_model_len") or (first.get("meta") or {}).get("n_ctx_train")
            if isinstance(context, int) and context > 0:
                found["context_size"] = context
            self._healthy()
        except (requests.RequestException, UpstreamError, ValueError, KeyError, IndexError, TypeError) as error:
            self._unhealthy(f"the engine at {self.url} did not answer /models ({_reason(error)})")
            return found
        try:  # llama-server: the context each of its slots really has
            settings = self._get_json(f"{self.base}/props")["default_generation_settings"]
            if isinstance(settings.get("n_ctx"), int) and settings["n_ctx"] > 0:
                found["context_size"] = settings["n_ctx"]
        except (requests.RequestException, UpstreamError, ValueError, KeyError, TypeError):
            pass  # not llama-server
        return found

    def _get_json(self, url: str) -> Any:
        response = self._http.get(url, timeout=(CONNECT_TIMEOUT, CONNECT_TIMEOUT))
        if response.status_code != 200:
            raise UpstreamError(f"HTTP {response.status_code}")
        return response.json()

    def degraded(self) -> str | None:
        """Why the upstream cannot serve now (unreachable, failing), or None when it can."""
        return self._problem

    def _watch(self) -> None:
        """Ask the upstream how it is every few seconds, until closed."""
        while not self._closed.wait(HEALTH_EVERY):
            if not self._known:  # unreachable when we started: learn its model once it answers
                self._learn(self._discover())
                continue
            try:
                self._get_json(f"{self.url}/models")
                self._healthy()
            except (requests.RequestException, UpstreamError, ValueError) as error:
                self._unhealthy(f"the engine at {self.url} is unreachable ({_reason(error)})")

    def _healthy(self) -> None:
        if self._problem is not None:
            log.info("the engine at %s answers again", self.url)
        self._problem = None

    def _unhealthy(self, problem: str) -> None:
        if problem != self._problem:
            log.warning("%s", problem)
        self._problem = problem

    def unavailable_for(self) -> float:
        """Seconds the upstream asked us to wait (its last 429/503 said so); 0 when free."""
        return max(0.0, self._busy_until - time.monotonic())

    # ------------------------------------------------------------------ prompts
    def prepare(self, messages: Sequence[dict[str, str]], continue_last: bool = False) -> Prompt:
        """The conversation as the upstream will get it, with its length counted (by the
        upstream's tokenizer where it offers one, else estimated on the safe side)."""
        count = PER_PROMPT_TOKENS + sum(PER_MESSAGE_TOKENS + self.count(m["content"]) for m in messages)
        if count > self.context_size - MIN_ANSWER_TOKENS:
            raise PromptTooLong(count, self.context_size)
        pairs = tuple((m["role"], m["content"]) for m in messages)
        return Prompt(tokens=(), messages=pairs, count=count, continue_last=continue_last)

    def count(self, text: str) -> int:
        """Tokens in ``text`` (remembered: the context window asks about a chat's messages
        again on every turn)."""
        if not text:
            return 0
        with self._cond:
            if (known := self._counts.get(text)) is not None:
                self._counts.move_to_end(text)
                return known
        counted = self._count_upstream(text)
        with self._cond:
            self._counts[text] = counted
            while len(self._counts) > 4096:
                self._counts.popitem(last=False)
        return counted

    def _count_upstream(self, text: str) -> int:
        ways = [self._tokenize] if self._tokenize else list(TOKENIZERS)
        for way in ways:
            if way == "estimate":
                break
            path, body = TOKENIZERS[way](self.model_name, text)
            try:
                response = self._http.post(f"{self.base}{path}", json=body, timeout=(CONNECT_TIMEOUT, 10))
                tokens = response.json()["tokens"] if response.status_code == 200 else None
            except (requests.RequestException, ValueError, KeyError, TypeError):
                tokens = None
            if isinstance(tokens, list) and tokens:  # llama-server answers [] to a body it misreads
                self._tokenize = way
                return len(tokens)
        self._tokenize = "estimate"
        return len(text.encode("utf-8")) // 3 + 1  # no BPE vocabulary averages under 3 bytes a token

    # ------------------------------------------------------------------ generating
    def start(
        self, key: Hashable, prompt: Prompt, params: GenerationParams, keep: bool = True, chat: str | None = None
    ) -> int:
        """Open the chat's stream upstream (in a thread of its own); nothing is cached here
        (``keep`` is the upstream's business)."""
        budget = answer_budget(prompt, params, self.context_size)
        stream = _Stream(key)
        with self._cond:
            self._streams[key] = stream
        body = request_body(self.model_name, prompt, params, budget)
        threading.Thread(target=self._read, args=(stream, body), name="upstream", daemon=True).start()
        return 0

    def step(self) -> list[tuple[Hashable, Step]]:
        """What the streams brought since the last step (waits up to 0.1 s for something)."""
        with self._cond:
            self._cond.wait_for(lambda: any(s.steps for s in self._streams.values()), timeout=0.1)
            produced = [(s.key, step) for s in self._streams.values() for step in s.steps]
            for stream in self._streams.values():
                stream.steps.clear()
            for key, step in produced:
                if step.finish_reason is not None:
                    self._streams.pop(key, None)
            return produced

    def stop(self, key: Hashable) -> None:
        """Close the chat's connection: the upstream sees it and frees its slot."""
        with self._cond:
            stream = self._streams.pop(key, None)
            if stream is None:
                return
            stream.stopped = True
            response = stream.response
        if response is not None:
            response.close()

    def set_threads(self, threads: int) -> None:
        """The upstream's machine decides its threads; nothing to do here."""

    def forget(self, chat: str) -> None:
        """Nothing is cached here. What the upstream keeps of a prompt (llama-server's slots
        and prompt cache, in its RAM or under its ``--slot-save-path``) is its own: the
        OpenAI API has no call to drop it (docs/DEPLOYMENT.md)."""

    def close(self) -> None:
        self._closed.set()
        for key in list(self._streams):
            self.stop(key)
        self._http.close()

    def _read(self, stream: _Stream, body: dict[str, Any]) -> None:
        """Follow one upstream stream to its end, turning chunks into steps."""
        try:
            response = self._http.post(
                f"{self.url}/chat/completions", json=body, stream=True, timeout=(CONNECT_TIMEOUT, self.timeout)
            )
            with self._cond:
                stream.response = response
                stopped = stream.stopped
            if stopped:
                response.close()
                return
            if response.status_code != 200:
                self._push(stream, Step("", 0, "error", error=self._refusal(response)))
                return
            self._healthy()
            finish = self._follow(stream, response)
            self._push(stream, Step("", stream.n_tokens, finish or "error", error=None if finish else self._cut()))
        except Exception as error:  # the chat must end, whatever broke the stream
            if stream.stopped:
                return  # we closed it: reading a closed response fails in many ways
            if not isinstance(error, requests.RequestException):
                log.exception("reading the upstream stream failed")
            problem = f"the engine at {self.url} went away ({_reason(error)})"
            self._unhealthy(problem)
            # Cut off mid-answer, like a service that stopped: the user may Continue it.
            ended = "interrupted" if stream.n_tokens else "error"
            self._push(stream, Step("", stream.n_tokens, ended, error=problem))

    def _follow(self, stream: _Stream, response: requests.Response) -> str | None:
        """Read chunks until the upstream says how the answer ended (None: it did not)."""
        decoder, text = SSEDecoder(), codecs.getincrementaldecoder("utf-8")(errors="replace")
        for raw in response.iter_content(chunk_size=None):
            for event in decoder.feed(text.decode(raw)):
                if event.data == "[DONE]":
                    return None
                finish = self._chunk(stream, event.data)
                if finish is not None:
                    return finish
        return None

    def _chunk(self, stream: _Stream, data: str) -> str | None:
        try:
            chunk = json.loads(data)
            choice = chunk["choices"][0] if chunk.get("choices") else {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return None  # a comment or a chunk we do not know: skip it
        if "error" in chunk:
            raise requests.ConnectionError(str(chunk["error"].get("message", "error")))
        piece = (choice.get("delta") or {}).get("content")
        # The tokens' log-probabilities ride on steps before the text: the scheduler hands
        # them out with the next text, all of one chunk's together.
        entries = logprobs_of(choice)
        for entry in entries:
            stream.n_tokens += 1
            self._push(stream, Step("", stream.n_tokens, logprob=entry))
        if isinstance(piece, str) and piece:
            stream.n_tokens += 0 if entries else 1  # a chunk without them: one token, we guess
            self._push(stream, Step(piece, stream.n_tokens))
        finish = choice.get("finish_reason")
        return ("length" if finish == "length" else "stop") if finish else None

    def _push(self, stream: _Stream, step: Step) -> None:
        with self._cond:
            if not stream.stopped:
                stream.steps.append(step)
                self._cond.notify_all()

    def _refusal(self, response: requests.Response) -> str:
        """The upstream's refusal in words; a 429/503 also holds back new requests."""
        if response.status_code in BUSY_STATUSES:
            wait = _retry_after(response.headers.get("Retry-After"))
            self._busy_until = time.monotonic() + wait
            return f"the engine at {self.url} is busy (HTTP {response.status_code}); try again in {wait:g} s"
        try:
            detail = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = response.reason
        return f"the engine at {self.url} refused (HTTP {response.status_code}): {str(detail)[:300]}"

    def _cut(self) -> str:
        return f"the engine at {self.url} ended the answer without saying why"


def request_body(model: str, prompt: Prompt, params: GenerationParams, budget: int) -> dict[str, Any]:
    """The upstream request: OpenAI's fields, plus llama.cpp's and vLLM's where ours have
    no OpenAI name (each server ignores the others' extras)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": role, "content": content} for role, content in prompt.messages],
        "stream": True,
        "max_tokens": budget,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "min_p": params.min_p,
        "repeat_penalty": params.repeat_penalty,
        "presence_penalty": params.presence_penalty,
        "frequency_penalty": params.frequency_penalty,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    if params.top_logprobs is not None:
        body["logprobs"], body["top_logprobs"] = True, params.top_logprobs
    if params.grammar is not None:
        body["grammar"] = params.grammar
    if prompt.continue_last:  # resume the last (assistant) message instead of answering it
        body["continue_final_message"], body["add_generation_prompt"] = True, False
    return body


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or DEFAULT_RETRY_AFTER), 1.0), 300.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _reason(error: Exception) -> str:
    return type(error).__name__ if isinstance(error, requests.RequestException) else str(error)
