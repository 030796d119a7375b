"""`advfc serve`: a small OpenAI-compatible chat server over an advfc HF generator.

It lets anything that speaks the OpenAI chat API (`advfc eval --model http://...::name` included)
use a local or adapter model. Requests that arrive together are batched: a worker thread drains the
queue, checks each request's prompt on its own, and generates for all requests with equal decoding
settings in one call; the seed is not part of that key (each sampled request brings its own, or
gets a fresh one). Every request is bounded (body size, n, max_tokens, prompt tokens, a socket
timeout, a cap on open connections); a bearer token can be required, and listening beyond
loopback needs a token or `--allow-remote`. Standard library HTTP only; no streaming.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import queue
import secrets
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, Protocol

from pydantic import Field

from .config import BaseConfig
from .errors import InputError
from .generation import ENV_NAME_PATTERN, Completion, SamplingParams, api_key_from, build_generator, is_loopback_host

log = logging.getLogger(__name__)


class ServeConfig(BaseConfig):
    model: str = Field("embedded", description="embedded, tiny, a model or PEFT adapter folder, or a hub id.")
    host: str = Field("127.0.0.1", description="Interface to listen on; beyond loopback needs --token-env or --allow-remote.")
    port: int = Field(8000, ge=0, le=65535, description="Port (0 picks a free one; the address is printed).")
    name: str | None = Field(None, description="Model name clients use (default: the --model value).")
    batch_size: int = Field(8, ge=1, description="Rows per forward pass.")
    device: str | None = Field(None, description="cpu or cuda (default: cuda when available).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Model dtype.")
    max_tokens: int = Field(512, ge=1, description="Largest max_tokens a request may ask for (and the default).")
    max_n: int = Field(16, ge=1, description="Most completions one request may ask for (n).")
    max_prompt_tokens: int = Field(8192, ge=1, description="Longest prompt accepted, in tokens.")
    max_body_bytes: int = Field(4 * 2**20, ge=1024, description="Largest request body accepted, in bytes.")
    max_connections: int = Field(64, ge=1, description="Connections served at once; later ones wait in the backlog.")
    request_timeout: float = Field(30.0, gt=0, description="Seconds a connection may stay silent before it is closed.")
    token_env: str | None = Field(
        None, pattern=ENV_NAME_PATTERN,
        description="Environment variable holding a token; requests must then send Authorization: Bearer <token>.",
    )
    allow_remote: bool = Field(
        False, description="Listen on a non-loopback --host without a token (anyone who reaches the port may use it)."
    )


class ServedGenerator(Protocol):
    """What the server needs from a generator (`HFGenerator` has both)."""

    def encode(self, conversations: list[list[dict]]) -> list[list[int]]: ...

    def generate(self, conversations: list[list[dict]], params: SamplingParams,
                 seeds: list[int] | None = None) -> list[list[Completion]]: ...


class RequestError(Exception):
    """A client error, answered with `status` (400 unless said) in OpenAI's error shape."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Pending:
    """One parsed request. `params.seed` is always 0, so requests that differ only in their seed
    share a generation call; `seed` is the request's own."""

    messages: list[dict]
    params: SamplingParams
    seed: int
    future: Future = field(default_factory=Future)


class BatchingWorker:
    """Collects concurrent requests and generates them together, one call per decoding setting.
    A request whose prompt cannot be rendered or is too long fails alone, before batching; if a
    batch's call fails, its requests are retried one by one so only the culprit gets the error."""

    def __init__(self, generator: ServedGenerator, max_requests: int, max_prompt_tokens: int, wait: float = 0.01):
        self.generator = generator
        self.max_requests = max_requests
        self.max_prompt_tokens = max_prompt_tokens
        self.wait = wait
        self.requests: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, daemon=True).start()

    def submit(self, request: Pending) -> Future:
        self.requests.put(request)
        return request.future

    def _loop(self) -> None:
        while True:
            batches: dict[SamplingParams, list[Pending]] = {}
            for request in self._collect():
                if self._admit(request):
                    batches.setdefault(request.params, []).append(request)
            for requests in batches.values():
                self._generate(requests)

    def _collect(self) -> list[Pending]:
        pending = [self.requests.get()]
        deadline = time.monotonic() + self.wait
        while len(pending) < self.max_requests:
            try:
                pending.append(self.requests.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return pending

    def _admit(self, request: Pending) -> bool:
        try:
            (tokens,) = self.generator.encode([request.messages])
        except Exception as e:  # the chat template rejects these messages
            request.future.set_exception(RequestError(f"the messages do not render as this model's prompt: {e}"))
            return False
        if len(tokens) > self.max_prompt_tokens:
            request.future.set_exception(RequestError(
                f"the prompt has {len(tokens)} tokens; this server accepts at most {self.max_prompt_tokens}"
            ))
            return False
        return True

    def _generate(self, requests: list[Pending]) -> None:
        try:
            outputs = self.generator.generate(
                [r.messages for r in requests], requests[0].params, seeds=[r.seed for r in requests]
            )
        except Exception as e:  # a failed call must fail its requests, not the worker
            if len(requests) == 1:
                requests[0].future.set_exception(e)
            else:
                for request in requests:  # find the request that fails; the others still get answers
                    self._generate([request])
            return
        for request, completions in zip(requests, outputs):
            request.future.set_result(completions)


def _field(body: dict, key: str, default, kind, valid, expected: str):
    """body[key] if it is a `kind` (never a bool) that passes `valid`, `default` when absent or null."""
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, kind) or not valid(value):
        raise RequestError(f"'{key}' must be {expected}, got {json.dumps(value)[:60]}")
    return value


def parse_request(body: dict, config: ServeConfig) -> Pending:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
    ):
        raise RequestError("'messages' must be a non-empty list of {role, content} with string content")
    if body.get("stream"):
        raise RequestError("streaming is not supported")
    cap = config.max_tokens
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    params = SamplingParams(
        max_new_tokens=_field(body, key, cap, int, lambda v: 1 <= v <= cap, f"an integer from 1 to {cap}"),
        temperature=_field(body, "temperature", 1.0, (int, float), lambda v: 0 <= v <= 2, "a number from 0 to 2"),
        top_p=_field(body, "top_p", 1.0, (int, float), lambda v: 0 < v <= 1, "a number in (0, 1]"),
        n=_field(body, "n", 1, int, lambda v: 1 <= v <= config.max_n, f"an integer from 1 to {config.max_n}"),
    )
    seed = _field(body, "seed", None, int, lambda v: -(2**63) <= v < 2**63, "a 64-bit integer")
    return Pending(
        [{"role": m["role"], "content": m["content"]} for m in messages],
        params,
        secrets.randbits(63) if seed is None else seed,
    )


def _no_constants(name: str):
    raise RequestError(f"{name} is not valid JSON")


def parse_body(raw: bytes, name: str) -> dict:
    """The JSON object a chat request carries, for model `name` (or none named)."""
    try:
        body = json.loads(raw or b"null", parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise RequestError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    if body.get("model") not in (None, name):
        raise RequestError(f"unknown model {str(body.get('model'))[:60]!r}; this server has {name!r}")
    return body


class Server(ThreadingHTTPServer):
    """A threading HTTP server with a deep listen backlog and at most `max_connections` handler
    threads: further connections wait in the backlog instead of being reset or spawning threads."""

    request_queue_size = 128
    daemon_threads = True

    def __init__(self, address, handler, max_connections: int, worker: BatchingWorker):
        self.slots = threading.BoundedSemaphore(max_connections)
        self.worker = worker
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        self.slots.acquire()
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client that left is not news
            super().handle_error(request, client_address)


def make_server(generator: ServedGenerator, config: ServeConfig, token: str | None = None) -> Server:
    """The server for `config` (host, port, limits); with `token`, every request must carry it."""
    name = config.name or config.model
    worker = BatchingWorker(generator, config.batch_size, config.max_prompt_tokens)
    expected = f"Bearer {token}".encode() if token else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = config.request_timeout  # applied to the socket: a silent client is disconnected

        def log_message(self, format, *args):  # keep the console for the address line and errors
            pass

        def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                   headers: dict | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers)

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "").encode()
            if expected is None or hmac.compare_digest(given, expected):
                return True
            self._error(401, "this server needs Authorization: Bearer <token>", code="invalid_api_key",
                        headers={"WWW-Authenticate": "Bearer"})
            return False

        def do_GET(self):
            if not self._authorized():
                return
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "advfc"}]})
            else:
                self._error(404, f"no route {self.path}", "not_found")

        def _read_body(self) -> bytes:
            """The request body, read only when Content-Length is within the cap (else the
            connection closes with the body unread)."""
            length = self.headers.get("Content-Length")
            if length is None or self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                raise RequestError("a request body needs Content-Length (chunked bodies are not supported)", 411)
            if not length.isdigit():
                self.close_connection = True
                raise RequestError(f"Content-Length must be a byte count, got {length[:40]!r}")
            if int(length) > config.max_body_bytes:
                self.close_connection = True
                raise RequestError(f"the body has {length} bytes; this server accepts at most {config.max_body_bytes}",
                                   413)
            try:
                return self.rfile.read(int(length))
            except TimeoutError:
                self.close_connection = True
                raise RequestError(f"the body did not arrive within {config.request_timeout:g} s", 408) from None

        def do_POST(self):
            try:
                raw = self._read_body()  # read before answering, so the client is not reset mid-send
                if not self._authorized():
                    return
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._error(404, f"no route {self.path}", "not_found")
                    return
                completions = worker.submit(parse_request(parse_body(raw, name), config)).result()
            except RequestError as e:
                self._error(e.status, str(e))
                return
            except Exception as e:  # report generation failures to the client as a server error
                self._error(500, f"{type(e).__name__}: {e}", "server_error")
                return
            self._send(200, chat_reply(name, completions))

    return Server((config.host, config.port), Handler, config.max_connections, worker)


def chat_reply(name: str, completions: list) -> dict:
    prompt = completions[0].prompt_tokens
    generated = sum(c.completion_tokens for c in completions)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": c.text}, "finish_reason": c.finish_reason}
            for i, c in enumerate(completions)
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated},
    }


def serving_token(config: ServeConfig) -> str | None:
    """The bearer token requests must carry (None: no auth). Listening beyond loopback needs one, or
    `allow_remote`; plain http beyond loopback is warned about either way."""
    token = None
    if config.token_env:
        token = api_key_from(config.token_env)
        if token is None:
            raise InputError(f"token_env names ${config.token_env}, which is not set or empty")
    if is_loopback_host(config.host):
        return token
    if token is None and not config.allow_remote:
        raise InputError(
            f"--host {config.host} accepts connections from other machines, and no token is set: set --token-env VAR "
            "(clients then send Authorization: Bearer $VAR), or pass --allow-remote to serve anyone who can reach it"
        )
    if token is None:
        log.warning(f"advfc serve: listening on {config.host} with no token: anyone who can reach the port "
                    "can use the model")
    log.warning(f"advfc serve: plain http on {config.host}: prompts{' and the token' if token else ''} cross the "
                "network unencrypted; prefer 127.0.0.1 behind a TLS proxy or an SSH tunnel")
    return token


def serve(config: ServeConfig, announce=print) -> None:
    """Check exposure, load the model, listen, announce the address (clients may wait for that
    line), serve forever."""
    token = serving_token(config)
    generator = build_generator(
        config.model, "hf", batch_size=config.batch_size, device=config.device, dtype=config.dtype
    )
    try:
        server = make_server(generator, config, token)
    except OSError as e:
        raise InputError(f"cannot listen on {config.host}:{config.port}: {e.strerror or e}") from None
    host, port = server.server_address[:2]
    auth = ", bearer token required" if token else ""
    announce(f"advfc serve: listening on http://{host}:{port}/v1 (model {config.name or config.model}{auth})")
    try:
        server.serve_forever()
    finally:
        server.server_close()
