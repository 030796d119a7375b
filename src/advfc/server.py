"""`advfc serve`: a small OpenAI-compatible chat server over any advfc generator.

It lets anything that speaks the OpenAI chat API (`advfc eval --model http://...::name` included)
use a local or adapter model. Requests that arrive together are
batched: a worker thread drains the queue and generates for all requests with equal sampling
settings in one call. Standard library HTTP only; no streaming.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from pydantic import Field

from .config import BaseConfig
from .errors import InputError
from .generation import Generator, SamplingParams


class ServeConfig(BaseConfig):
    model: str = Field("embedded", description="embedded, tiny, a model or PEFT adapter folder, or a hub id.")
    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="Port (0 picks a free one; the address is printed).")
    name: str | None = Field(None, description="Model name clients use (default: the --model value).")
    batch_size: int = Field(8, ge=1, description="Rows per forward pass.")
    device: str | None = Field(None, description="cpu or cuda (default: cuda when available).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Model dtype.")
    max_tokens: int = Field(512, ge=1, description="Upper bound (and default) for a request's max_tokens.")


class BatchingWorker:
    """Collects concurrent requests and generates them together, one call per sampling setting."""

    def __init__(self, generator: Generator, max_requests: int, wait: float = 0.01):
        self.generator = generator
        self.max_requests = max_requests
        self.wait = wait
        self.requests: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, daemon=True).start()

    def submit(self, messages: list[dict], params: SamplingParams) -> Future:
        future: Future = Future()
        self.requests.put((messages, params, future))
        return future

    def _loop(self) -> None:
        while True:
            pending = [self.requests.get()]
            deadline = time.monotonic() + self.wait
            while len(pending) < self.max_requests:
                try:
                    pending.append(self.requests.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            by_params: dict[SamplingParams, list] = {}
            for item in pending:
                by_params.setdefault(item[1], []).append(item)
            for params, items in by_params.items():
                try:
                    outputs = self.generator.generate([m for m, _, _ in items], params)
                except Exception as e:  # a failed batch must fail its requests, not the worker
                    for _, _, future in items:
                        future.set_exception(e)
                    continue
                for (_, _, future), completions in zip(items, outputs):
                    future.set_result(completions)


class RequestError(Exception):
    """A client error, answered with HTTP 400 in OpenAI's error shape."""


def parse_request(body: dict, max_tokens: int) -> tuple[list[dict], SamplingParams]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
    ):
        raise RequestError("'messages' must be a non-empty list of {role, content} with string content")
    if body.get("stream"):
        raise RequestError("streaming is not supported")
    seed = body.get("seed")
    try:
        requested = int(body.get("max_completion_tokens") or body.get("max_tokens") or max_tokens)
        params = SamplingParams(
            max_new_tokens=min(requested, max_tokens),
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            n=int(body.get("n", 1)),
            seed=int(seed) if seed is not None else int.from_bytes(uuid.uuid4().bytes[:4], "little"),
        )
    except (InputError, TypeError, ValueError) as e:
        raise RequestError(str(e)) from None
    return [{"role": m["role"], "content": m["content"]} for m in messages], params


def make_server(generator: Generator, host: str, port: int, name: str, *, max_tokens: int = 512,
                max_requests: int = 8) -> ThreadingHTTPServer:
    worker = BatchingWorker(generator, max_requests)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # keep the console for the address line and errors
            pass

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str) -> None:
            self._send(status, {"error": {"message": message, "type": kind}})

        def do_GET(self):
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "advfc"}]})
            else:
                self._error(404, f"no route {self.path}", "not_found")

        def do_POST(self):
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._error(404, f"no route {self.path}", "not_found")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                if not isinstance(body, dict):
                    raise RequestError("the body must be a JSON object")
                if body.get("model") not in (None, name):
                    raise RequestError(f"unknown model {body.get('model')!r}; this server has {name!r}")
                messages, params = parse_request(body, max_tokens)
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
                self._error(400, "the body is not valid JSON", "invalid_request_error")
                return
            except RequestError as e:
                self._error(400, str(e), "invalid_request_error")
                return
            try:
                completions = worker.submit(messages, params).result()
            except Exception as e:  # report generation failures to the client as a server error
                self._error(500, f"{type(e).__name__}: {e}", "server_error")
                return
            self._send(200, chat_reply(name, completions))

    return ThreadingHTTPServer((host, port), Handler)


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


def serve(config: ServeConfig, announce=print) -> None:
    """Load the model, listen, announce the address (clients may wait for that line), serve forever."""
    from .generation import build_generator

    generator = build_generator(
        config.model, "hf", batch_size=config.batch_size, device=config.device, dtype=config.dtype
    )
    name = config.name or config.model
    try:
        server = make_server(generator, config.host, config.port, name, max_tokens=config.max_tokens,
                             max_requests=config.batch_size)
    except OSError as e:
        raise InputError(f"cannot listen on {config.host}:{config.port}: {e.strerror or e}") from None
    host, port = server.server_address[:2]
    announce(f"advfc serve: listening on http://{host}:{port}/v1 (model {name})")
    try:
        server.serve_forever()
    finally:
        server.server_close()
