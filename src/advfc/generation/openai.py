"""Generation through any OpenAI-compatible chat endpoint (`http://host:port/v1::model`), and the
HTTP helpers the server shares: which URLs an endpoint may have, and where an API key may go.
Standard library and urllib3 only (this is not the `openai` SDK)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import urllib3
from urllib3.exceptions import LocationParseError, MaxRetryError
from urllib3.util import Retry, Url, parse_url

from ..errors import InputError
from ..models import fingerprint
from .base import Completion, SamplingParams

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 16 * 2**20  # a chat reply is kilobytes; a body past this is not one
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_MAX = 60  # seconds: the longest Retry-After pause honoured


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1, IPv4-mapped 127.x); not a hostname that
    merely starts with 127."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def may_receive_key(url: Url) -> bool:
    """An API key goes only over https or to this machine: plain http elsewhere can be read on the way."""
    return url.scheme == "https" or is_loopback_host(url.host or "")


def endpoint_url(base: str) -> Url:
    """The parsed `http(s)://host[:port]/path` of an endpoint spec; anything else is an InputError."""
    try:
        url = parse_url(base)
    except LocationParseError as e:
        raise InputError(f"endpoint URL {base!r} does not parse: {e}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InputError(f"endpoint URL {base!r}: expected http(s)://host[:port]/path")
    if url.auth:
        raise InputError(f"endpoint URL {base!r} carries credentials; put the key in an environment variable "
                         "and name it with api_key_env")
    return url


ENV_NAME_PATTERN = r"^([A-Za-z_][A-Za-z0-9_]*)?$"  # an environment variable's name, or "" for none


def api_key_from(env: str) -> str | None:
    """The key in environment variable `env` ("" names none), checked to fit in an HTTP header."""
    key = os.environ.get(env, "").strip() if env else ""
    if any(not 33 <= ord(c) < 127 for c in key):
        raise InputError(f"${env} holds characters that cannot go in an Authorization header")
    return key or None


def lora_adapters(models: list[dict]) -> dict[str, str]:
    """Adapter name -> base name, from an OpenAI-style model list: vLLM gives a LoRA module a
    `parent` (its base model's id); base models have none."""
    return {m["id"]: m["parent"] for m in models if isinstance(m.get("parent"), str) and m["parent"]}


@dataclass
class OpenAIGenerator:
    """An OpenAI-compatible chat endpoint, `http://host:port/v1::model-name` (the name may be left
    out: the endpoint's first model is used). Requests run in a thread pool; urllib3's retry policy
    retries 429, 5xx, timeouts and refused connections with exponential back-off and jitter,
    honouring Retry-After up to RETRY_AFTER_MAX seconds. Redirects are not followed, replies are
    read up to `max_reply_bytes`, and anything unexpected is an InputError naming the URL.

    The API key comes from the environment variable `api_key_env` and is sent only over https or
    to this machine; for plain http to another host it is withheld with a warning."""

    spec: str
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 4
    backoff: float = 0.5
    api_key_env: str = "OPENAI_API_KEY"
    max_reply_bytes: int = MAX_REPLY_BYTES
    # Sent as vLLM's `chat_template_kwargs` extension (`enable_thinking: false` for Qwen3 servers).
    chat_template_kwargs: dict | None = None
    base_url: str = field(init=False)
    model: str = field(init=False)
    headers: dict = field(init=False)

    def __post_init__(self):
        base, _, name = self.spec.partition("::")
        self.base_url = base.rstrip("/")
        url = endpoint_url(self.base_url)
        self.headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        key = api_key_from(self.api_key_env)
        if key and may_receive_key(url):
            self.headers["Authorization"] = f"Bearer {key}"
        elif key:
            log.warning(f"not sending ${self.api_key_env} to {self.base_url}: plain http to another host would "
                        "expose it; use https, or a tunnel to 127.0.0.1")
        retry = Retry(
            total=self.max_retries, status_forcelist=RETRY_STATUSES, allowed_methods=None,
            backoff_factor=self.backoff, backoff_jitter=self.backoff, retry_after_max=RETRY_AFTER_MAX,
        )
        self.http = urllib3.PoolManager(maxsize=self.concurrency, retries=retry, timeout=urllib3.Timeout(self.timeout))
        self.model = name or self._first_model()  # a named model is taken as named: nothing is contacted here

    def describe(self) -> dict:
        return {"backend": "openai", "model": self.spec, "endpoint": self.base_url, "served_model": self.model,
                "fingerprint": fingerprint(f"{self.base_url}::{self.model}")}

    def _first_model(self) -> str:
        reply = self._request("GET", "/models")
        data = reply.get("data") if isinstance(reply, dict) else None
        models = [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]] if isinstance(data, list) else []
        if not models:
            raise InputError(f"endpoint {self.base_url}/models returned no model list; name one as URL::model")
        adapters = lora_adapters(models)
        if adapters:  # vLLM lists the base first: taking it would score the base, not the adapter
            raise InputError(f"endpoint {self.base_url} serves LoRA adapters ({', '.join(adapters)}) on "
                             f"{', '.join(sorted(set(adapters.values())))}; name the one to score as URL::<adapter> "
                             "(URL::<base> scores the base)")
        return models[0]["id"]

    def generate(self, conversations: list[list[dict]], params: SamplingParams) -> list[list[Completion]]:
        def one(messages: list[dict]) -> list[Completion]:
            body = {
                "model": self.model,
                "messages": messages,
                "max_tokens": params.max_new_tokens,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "n": params.n,
                "seed": params.seed,
            }
            if self.chat_template_kwargs:
                body["chat_template_kwargs"] = self.chat_template_kwargs
            url = self.base_url + "/chat/completions"
            return _parse_chat_reply(self._request("POST", "/chat/completions", body), params.n, url)

        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            return list(pool.map(one, conversations))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _request(self, method: str, path: str, body: dict | None = None):
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        try:
            response = self.http.request(method, url, body=data, headers=self.headers, redirect=False,
                                         preload_content=False)
        except MaxRetryError as e:
            attempts = f"{self.max_retries + 1} attempts" if self.max_retries else "1 attempt"
            raise InputError(f"endpoint {url} failed after {attempts}: {e.reason}") from None
        try:
            raw = self._read_reply(response, url)
        except (InputError, urllib3.exceptions.HTTPError) as e:
            response.close()  # an unread rest must not be taken for the next reply on this connection
            raise e if isinstance(e, InputError) else InputError(f"endpoint {url} broke off its reply: {e}") from None
        finally:
            response.release_conn()
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise InputError(f"endpoint {url} returned non-JSON: {raw[:120]!r}") from None

    def _read_reply(self, response, url: str) -> bytes:
        if 300 <= response.status < 400:
            raise InputError(f"endpoint {url} redirects (HTTP {response.status}) to {response.headers.get('Location')}; "
                             "redirects are not followed (they could carry the API key elsewhere): use the final URL")
        if response.status >= 400:
            detail = response.read(300).decode(errors="replace")
            sent = "" if "Authorization" in self.headers else " (no API key was sent)"
            raise InputError(f"endpoint {url} refused the request (HTTP {response.status}){sent}: {detail}")
        too_big = InputError(f"endpoint {url} sent a reply over {self.max_reply_bytes} bytes; a chat reply is far smaller")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_reply_bytes:
            raise too_big
        raw = response.read(self.max_reply_bytes + 1)
        if len(raw) > self.max_reply_bytes:
            raise too_big
        return raw


def _parse_chat_reply(reply, n: int, where: str) -> list[Completion]:
    """The `n` completions in an OpenAI chat reply; any other shape is an InputError naming `where`."""
    choices = reply.get("choices") if isinstance(reply, dict) else None
    messages = [c.get("message") if isinstance(c, dict) else None for c in choices] if isinstance(choices, list) else [None]
    if not all(isinstance(m, dict) and "content" in m for m in messages):
        raise InputError(f"endpoint {where} returned a reply without choices[].message.content: {str(reply)[:120]}")
    if len(choices) != n:
        raise InputError(f"endpoint {where} returned {len(choices)} choices, expected {n}")
    contents = [m["content"] or "" for m in messages]
    if not all(isinstance(c, str) for c in contents):
        raise InputError(f"endpoint {where} returned message content that is not a string: {str(contents)[:120]}")
    usage = reply.get("usage") or {}
    if not isinstance(usage, dict):
        raise InputError(f"endpoint {where} returned usage that is not an object: {str(usage)[:120]}")
    prompt, generated = (_token_count(usage, key, where) for key in ("prompt_tokens", "completion_tokens"))
    reasons = ["length" if c.get("finish_reason") == "length" else "stop" for c in choices]
    return [Completion(text, prompt, generated // n, reason) for text, reason in zip(contents, reasons)]


def _token_count(usage: dict, key: str, where: str) -> int:
    value = usage.get(key) or 0
    if type(value) is not int or value < 0:
        raise InputError(f"endpoint {where} returned usage.{key} that is not a non-negative integer: {str(value)[:60]}")
    return value

