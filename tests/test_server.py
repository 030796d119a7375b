"""The OpenAI-compatible path: `advfc serve` as a real subprocess, the endpoint backend against
it, endpoints that are down or answer garbage, where the API key may go, and the server's limits,
auth and batching in process over a scripted generator (127.0.0.1 only)."""

import http.client
import json
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from advfc.errors import InputError
from advfc.evaluation import result_path
from advfc.generation import Completion, SamplingParams, endpoint_url, may_receive_key
from advfc.generation.openai import OpenAIGenerator
from advfc.io import read_jsonl
from advfc.server import ServeConfig, make_server, serving_token

EVAL = ["--categories", "simple_python", "--max-new-tokens", "6", "--no-progress"]


@pytest.fixture(scope="module")
def server():
    """`advfc serve --model tiny --port 0` in a subprocess; yields its base URL once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "advfc.cli", "serve", "--model", "tiny", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        timer = threading.Timer(180, proc.kill)
        timer.start()
        line = ""
        while "listening on" not in line:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"advfc serve exited: {proc.stderr.read()[-2000:]}")
        timer.cancel()
        yield line.split("listening on ")[1].split()[0]
    finally:
        proc.kill()
        proc.wait()


def test_eval_through_the_endpoint_matches_local_generation(cli, tmp_path, server):
    code, _, err = cli("eval", "--model", f"{server}::tiny", *EVAL, "--limit", "3", "--out", tmp_path / "remote")
    assert code == 0, err
    assert cli("eval", "--model", "tiny", *EVAL, "--limit", "3", "--out", tmp_path / "local")[0] == 0
    remote = read_jsonl(result_path(tmp_path / "remote", "simple_python"))
    local = read_jsonl(result_path(tmp_path / "local", "simple_python"))
    assert [(r["id"], r["result"], r["input_token_count"]) for r in remote] == [
        (r["id"], r["result"], r["input_token_count"]) for r in local
    ]
    run = json.loads((tmp_path / "remote" / "scores.json").read_text())["run"]
    assert run["backend"] == "openai"


def test_endpoint_backend_samples_n_and_finds_the_model_name(server):
    gen = OpenAIGenerator(server)  # no ::name: the server's first model
    assert gen.model == "tiny"
    messages = [[{"role": "user", "content": "hi"}], [{"role": "user", "content": "hello there"}]]
    params = SamplingParams(max_new_tokens=4, temperature=1.0, n=3, seed=1)
    out = gen.generate(messages, params)
    assert [len(row) for row in out] == [3, 3]
    assert [[c.text for c in row] for row in out] == [[c.text for c in row] for row in gen.generate(messages, params)]
    assert all(c.finish_reason in ("stop", "length") and c.prompt_tokens > 0 for row in out for c in row)


def test_the_server_rejects_bad_requests(server):
    with pytest.raises(InputError, match="HTTP 400.*messages"):
        OpenAIGenerator(server + "::tiny", max_retries=0).generate([[{"role": "user"}]], SamplingParams())
    with pytest.raises(InputError, match="unknown model"):
        OpenAIGenerator(server + "::other", max_retries=0).generate([[{"role": "user", "content": "x"}]], SamplingParams())


@contextmanager
def fake_endpoint(handler):
    """A scripted HTTP server on 127.0.0.1, as an endpoint spec `http://host:port/v1::m`."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1::m"
    finally:
        httpd.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_exits_2(cli, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1::m"
    code, _, err = cli("eval", "--model", url, *EVAL, "--limit", "2", "--out", tmp_path, "--max-retries", "1")
    assert code == 2 and "failed after 2 attempts" in " ".join(err.split())


class FlakyHandler(BaseHTTPRequestHandler):
    """Answers the first `good` chat requests properly, then with `garbage`."""

    good = 0
    garbage = b"<html>not json</html>"
    served = 0

    def log_message(self, *args):
        pass

    def _reply(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        cls.served += 1
        if cls.served <= cls.good:
            reply = {"choices": [{"message": {"content": "I cannot help."}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
            self._reply(json.dumps(reply).encode())
        else:
            self._reply(cls.garbage)


@pytest.mark.parametrize("garbage, message", [
    (b"<html>not json</html>", "returned non-JSON"),
    (b'{"object": "chat.completion"}', "without choices"),
    (b'{"choices": [{"message": {"content": "x"}}], "usage": [1, 2]}', "usage that is not an object"),
    (b'{"choices": [{"message": {"content": 7}}]}', "not a string"),
])
def test_garbage_from_the_endpoint_exits_2_and_keeps_partial_results(cli, tmp_path, garbage, message):
    handler = type("Handler", (FlakyHandler,), {"good": 4, "garbage": garbage, "served": 0})
    with fake_endpoint(handler) as url:
        code, _, err = cli("eval", "--model", url, *EVAL, "--limit", "12", "--out", tmp_path,
                           "--batch-size", "1", "--concurrency", "1")
    assert code == 2 and message in " ".join(err.split())
    assert len(read_jsonl(result_path(tmp_path, "simple_python"))) == 4  # the first chunk is on disk


class SlowHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        import time

        time.sleep(3)


def test_endpoint_timeout_exits_2(cli, tmp_path):
    with fake_endpoint(SlowHandler) as url:
        code, _, err = cli("eval", "--model", url, *EVAL, "--limit", "1", "--out", tmp_path,
                           "--timeout", "0.3", "--max-retries", "1")
    assert code == 2 and "timed out" in " ".join(err.split())


# ----------------------------------------------------------------------------- the client: keys, caps, odd replies


class RecordingHandler(BaseHTTPRequestHandler):
    """Answers every request with `replies[min(i, last)]` = (status, headers, body) and records the
    requests' Authorization headers."""

    replies = [(200, {}, b"{}")]
    seen: list = []

    def log_message(self, *args):
        pass

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cls = type(self)
        cls.seen.append(self.headers.get("Authorization"))
        status, headers, body = cls.replies[min(len(cls.seen), len(cls.replies)) - 1]
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


def recording(*replies):
    return type("Recording", (RecordingHandler,), {"replies": list(replies), "seen": []})


GOOD = (200, {}, json.dumps({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 3, "completion_tokens": 1}}).encode())
HI = [[{"role": "user", "content": "hi"}]]


@pytest.mark.parametrize("url, allowed", [
    ("https://api.example.com/v1", True),
    ("http://127.0.0.1:8000/v1", True),
    ("http://127.8.9.1/v1", True),
    ("http://localhost:8000/v1", True),
    ("http://[::1]:8000/v1", True),
    ("http://[::ffff:127.0.0.1]:8000/v1", True),
    ("http://10.0.0.5:8000/v1", False),
    ("http://0.0.0.0:8000/v1", False),
    ("http://example.com/v1", False),
    ("http://127.0.0.1.example.com/v1", False),
])
def test_the_key_goes_only_over_https_or_to_this_machine(url, allowed):
    assert may_receive_key(endpoint_url(url)) is allowed


def test_the_key_is_withheld_from_a_plain_http_foreign_host(monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    gen = OpenAIGenerator("http://192.0.2.7:8000/v1::m")  # named model: nothing is contacted
    assert "Authorization" not in gen.headers
    assert "not sending $OPENAI_API_KEY to http://192.0.2.7:8000/v1" in caplog.text
    assert "sk-secret" not in caplog.text


def test_the_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default")
    monkeypatch.setenv("LOCAL_KEY", "sk-local")
    handler = recording(GOOD)
    with fake_endpoint(handler) as url:
        OpenAIGenerator(url, api_key_env="LOCAL_KEY").generate(HI, SamplingParams())
        OpenAIGenerator(url, api_key_env="").generate(HI, SamplingParams())
    assert handler.seen == ["Bearer sk-local", None]


def test_a_key_that_cannot_be_a_header_is_an_input_error(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-a\r\nX-Injected: 1")
    with pytest.raises(InputError, match=r"\$OPENAI_API_KEY holds characters"):
        OpenAIGenerator("http://127.0.0.1:9/v1::m")


def test_redirects_are_not_followed(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    target = recording(GOOD)
    with fake_endpoint(target) as elsewhere:
        location = elsewhere.split("::")[0] + "/chat/completions"
        with fake_endpoint(recording((307, {"Location": location}, b""))) as url:
            with pytest.raises(InputError, match="redirects .HTTP 307.*not followed"):
                OpenAIGenerator(url, max_retries=0).generate(HI, SamplingParams())
    assert target.seen == []


@pytest.mark.parametrize("spec, message", [
    ("http://127.0.0.1:99999/v1::m", "does not parse"),
    ("ftp://127.0.0.1/v1::m", "expected http"),
    ("http:///v1::m", "expected http"),
    ("http://user:pw@127.0.0.1/v1::m", "carries credentials"),
])
def test_bad_endpoint_urls_are_input_errors(spec, message):
    with pytest.raises(InputError, match=message):
        OpenAIGenerator(spec)


def test_replies_are_read_with_a_cap():
    declared = recording((200, {"Content-Length": str(200 * 2**20)}, b""))  # claims 200 MB, sends none
    with fake_endpoint(declared) as url:
        with pytest.raises(InputError, match=f"over {16 * 2**20} bytes"):
            OpenAIGenerator(url, max_retries=0).generate(HI, SamplingParams())
    streamed = recording((200, {"Content-Length": "5000"}, b" " * 5000))
    with fake_endpoint(streamed) as url:
        with pytest.raises(InputError, match="over 1000 bytes"):
            OpenAIGenerator(url, max_retries=0, max_reply_bytes=1000).generate(HI, SamplingParams())


def reply(**fields) -> tuple:
    return 200, {}, json.dumps(fields).encode()


@pytest.mark.parametrize("answer, message", [
    (reply(choices=[{"message": {"content": "x"}}], usage=[1]), "usage that is not an object"),
    (reply(choices=[{"message": {"content": "x"}}], usage={"prompt_tokens": "12"}), "usage.prompt_tokens"),
    (reply(choices=[{"message": {"content": "x"}}], usage={"completion_tokens": -1}), "usage.completion_tokens"),
    (reply(choices=[{"message": {"content": 5}}]), "content that is not a string"),
    (reply(choices=[{"message": {"content": [{"type": "text"}]}}]), "content that is not a string"),
    (reply(choices=[{"message": {"role": "assistant"}}]), "without choices"),
    (reply(choices=[1]), "without choices"),
    (reply(choices="x"), "without choices"),
    (reply(object="chat.completion"), "without choices"),
    (reply(choices=[{"message": {"content": "a"}}, {"message": {"content": "b"}}]), "2 choices, expected 1"),
    ((200, {}, b"[1, 2]"), "without choices"),
    ((200, {}, b"[" * 100_000), "non-JSON"),
    ((200, {}, b"\xff\xfe"), "non-JSON"),
    ((404, {}, b"no such route"), r"refused the request \(HTTP 404\).*no such route"),
])
def test_odd_replies_are_input_errors_naming_the_url(answer, message):
    with fake_endpoint(recording(answer)) as url:
        with pytest.raises(InputError, match=message) as e:
            OpenAIGenerator(url, max_retries=0).generate(HI, SamplingParams())
    assert url.split("::")[0] + "/chat/completions" in str(e.value)


@pytest.mark.parametrize("models", [{"data": [{"id": 3}]}, {"data": []}, {"data": "x"}, [1]])
def test_an_odd_model_list_is_an_input_error(models):
    with fake_endpoint(recording((200, {}, json.dumps(models).encode()))) as url:
        with pytest.raises(InputError, match="/models returned no model list"):
            OpenAIGenerator(url.split("::")[0], max_retries=0)


def test_retry_after_is_honoured_and_retries_end():
    handler = recording((503, {"Retry-After": "0"}, b"busy"), GOOD)
    with fake_endpoint(handler) as url:
        out = OpenAIGenerator(url, max_retries=1, backoff=0).generate(HI, SamplingParams())
    assert [c.text for c in out[0]] == ["ok"] and len(handler.seen) == 2
    with fake_endpoint(recording((429, {}, b"slow down"))) as url:
        with pytest.raises(InputError, match="failed after 3 attempts: too many 429"):
            OpenAIGenerator(url, max_retries=2, backoff=0).generate(HI, SamplingParams())


# ----------------------------------------------------------------------------- the server, in process


class ScriptedGenerator:
    """What `advfc serve` needs from a generator, scripted: one token per character of the last
    message; a completion echoes content, seed and sample index. Content UNRENDERABLE fails to
    encode (a chat template that rejects it), BOOM fails generation. With `hold`, the first call
    waits for `release`, so requests sent meanwhile queue up and reach the worker together."""

    def __init__(self, hold: bool = False):
        self.calls: list[list[str]] = []
        self.held, self.release = threading.Event(), threading.Event()
        if not hold:
            self.release.set()

    def encode(self, conversations):
        if any(c[-1]["content"] == "UNRENDERABLE" for c in conversations):
            raise ValueError("roles must alternate")
        return [[0] * len(c[-1]["content"]) for c in conversations]

    def generate(self, conversations, params, seeds=None):
        contents = [c[-1]["content"] for c in conversations]
        self.calls.append(contents)
        self.held.set()
        assert self.release.wait(60)
        if "BOOM" in contents:
            raise RuntimeError("generation failed")
        return [
            [Completion(f"{text}|{'greedy' if params.greedy else seed}|{i}", len(text), 1, "stop") for i in range(params.n)]
            for text, seed in zip(contents, seeds)
        ]


@contextmanager
def serving(generator, token=None, **limits):
    """`make_server` on 127.0.0.1 with a free port, served from a thread; yields the server."""
    httpd = make_server(generator, ServeConfig(model="m", host="127.0.0.1", port=0, **limits), token)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def post(httpd, body, headers=None, path="/v1/chat/completions"):
    """POST `body` (a dict, or raw bytes) and return (status, JSON reply, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=60)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, data, {"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read()), response.headers
    finally:
        conn.close()


def chat(content, **fields):
    """A greedy request for `content` (OpenAI's default temperature is 1)."""
    return {"model": "m", "messages": [{"role": "user", "content": content}], "temperature": 0, **fields}


def texts(answer) -> list[str]:
    return [c["message"]["content"] for c in answer[1]["choices"]]


def wait_until(condition):
    for _ in range(600):
        if condition():
            return
        threading.Event().wait(0.05)
    pytest.fail("the requests never queued up")


def batched(generator, httpd, bodies):
    """Send one request the generator holds, queue `bodies` behind it, then release: the worker
    sees `bodies` together. Returns their answers, in order."""
    with ThreadPoolExecutor(len(bodies) + 1) as pool:
        first = pool.submit(post, httpd, chat("first"))
        assert generator.held.wait(60)
        answers = [pool.submit(post, httpd, b) for b in bodies]
        wait_until(lambda: httpd.worker.requests.qsize() == len(bodies))
        generator.release.set()
        assert first.result()[0] == 200
        return [a.result() for a in answers]


def test_greedy_requests_without_a_seed_share_one_generation_call():
    gen = ScriptedGenerator(hold=True)
    with serving(gen) as httpd:
        answers = batched(gen, httpd, [chat(f"q{i}") for i in range(6)])
    assert [a[0] for a in answers] == [200] * 6
    assert [texts(a) for a in answers] == [[f"q{i}|greedy|0"] for i in range(6)]
    assert gen.calls[0] == ["first"] and sorted(gen.calls[1]) == [f"q{i}" for i in range(6)] and len(gen.calls) == 2


def test_sampled_requests_share_a_call_each_with_its_own_seed():
    gen = ScriptedGenerator(hold=True)
    bodies = [chat("same"), chat("same"), chat("a", seed=5), chat("b", seed=6)]
    with serving(gen) as httpd:
        answers = batched(gen, httpd, [{**b, "temperature": 0.7} for b in bodies])
    assert sorted(gen.calls[1]) == ["a", "b", "same", "same"] and len(gen.calls) == 2
    unseeded = [texts(a)[0] for a in answers[:2]]
    assert unseeded[0] != unseeded[1]  # a fresh seed per request, not one per batch
    assert texts(answers[2]) == ["a|5|0"] and texts(answers[3]) == ["b|6|0"]


def test_one_bad_request_in_a_batch_fails_only_itself():
    gen = ScriptedGenerator(hold=True)
    bodies = [chat("ok1"), chat("UNRENDERABLE"), chat("x" * 101), chat("BOOM"), chat("ok2")]
    with serving(gen, max_prompt_tokens=100) as httpd:
        answers = batched(gen, httpd, bodies)
    assert [a[0] for a in answers] == [200, 400, 400, 500, 200]
    assert texts(answers[0]) == ["ok1|greedy|0"] and texts(answers[4]) == ["ok2|greedy|0"]
    assert "do not render" in answers[1][1]["error"]["message"]
    assert "101 tokens; this server accepts at most 100" in answers[2][1]["error"]["message"]
    assert answers[3][1]["error"] == {"message": "RuntimeError: generation failed", "type": "server_error",
                                      "param": None, "code": None}
    assert sorted(gen.calls[1]) == ["BOOM", "ok1", "ok2"]  # batched together, then retried one by one
    assert sorted(map(tuple, gen.calls[2:])) == [("BOOM",), ("ok1",), ("ok2",)]


@pytest.mark.parametrize("body, fragment", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}', "NaN is not valid JSON"),
    (b"[" * 100_000, "not valid JSON"),
    (chat("x", model="other"), "unknown model"),
    ({"messages": []}, "'messages' must be"),
    ({"messages": [{"role": "user", "content": ["x"]}]}, "'messages' must be"),
    (chat("x", stream=True), "streaming"),
    (chat("x", n=0), "'n' must be an integer from 1 to 4"),
    (chat("x", n=5), "'n' must be an integer from 1 to 4"),
    (chat("x", n="2"), "'n' must be"),
    (chat("x", n=True), "'n' must be"),
    (chat("x", max_tokens=33), "'max_tokens' must be an integer from 1 to 32"),
    (chat("x", max_completion_tokens=0), "'max_completion_tokens' must be"),
    (chat("x", temperature=-1), "'temperature' must be"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": 1e999}', "'temperature' must be"),
    (chat("x", top_p=0), "'top_p' must be"),
    (chat("x", seed="x"), "'seed' must be"),
    (chat("x", seed=2**64), "'seed' must be"),
])
def test_malformed_requests_get_400_with_an_openai_error(body, fragment):
    with serving(ScriptedGenerator(), max_n=4, max_tokens=32) as httpd:
        status, answer, _ = post(httpd, body)
        assert status == 400 and answer["error"]["type"] == "invalid_request_error"
        assert fragment in answer["error"]["message"]
        assert post(httpd, chat("fine"))[0] == 200


def test_oversized_and_unsized_bodies_are_refused_unread():
    with serving(ScriptedGenerator(), max_body_bytes=4096) as httpd:
        conn = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=60)
        conn.putrequest("POST", "/v1/chat/completions")
        conn.putheader("Content-Length", str(200 * 2**20))  # then sends nothing
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413 and response.headers["Connection"] == "close"
        assert "at most 4096" in json.loads(response.read())["error"]["message"]
        conn.close()
        status, answer, _ = post(httpd, b" " * 5000)
        assert status == 413
        with socket.create_connection(httpd.server_address, timeout=60) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 411")


def test_a_silent_or_slow_client_is_disconnected():
    with serving(ScriptedGenerator(), request_timeout=0.5) as httpd:
        with socket.create_connection(httpd.server_address, timeout=60) as s:
            assert s.recv(100) == b""  # said nothing: closed
        with socket.create_connection(httpd.server_address, timeout=60) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            assert s.recv(100).startswith(b"HTTP/1.1 408")


def test_fifty_concurrent_requests_are_all_answered():
    with serving(ScriptedGenerator(), max_connections=4) as httpd:
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(lambda i: post(httpd, chat(f"c{i}")), range(50)))
    assert [texts(a) for a in answers] == [[f"c{i}|greedy|0"] for i in range(50)]


def test_a_token_is_required_when_set(monkeypatch):
    with serving(ScriptedGenerator(), token="s3cret-token") as httpd:
        status, answer, headers = post(httpd, chat("x"))
        assert status == 401 and answer["error"]["code"] == "invalid_api_key"
        assert headers["WWW-Authenticate"] == "Bearer"
        assert post(httpd, chat("x"), {"Authorization": "Bearer wrong"})[0] == 401
        assert post(httpd, chat("x"), {"Authorization": "Bearer s3cret-token"})[0] == 200
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        with pytest.raises(InputError, match="HTTP 401"):
            OpenAIGenerator(url, api_key_env="", max_retries=0)  # GET /models needs the token too
        monkeypatch.setenv("SERVE_TOKEN", "s3cret-token")
        gen = OpenAIGenerator(url, api_key_env="SERVE_TOKEN")
        assert gen.model == "m" and [c.text for c in gen.generate(HI, SamplingParams())[0]] == ["hi|greedy|0"]


def test_listening_beyond_loopback_needs_a_token_or_allow_remote(monkeypatch, caplog, cli):
    remote = {"model": "tiny", "host": "0.0.0.0"}
    with pytest.raises(InputError, match="--host 0.0.0.0 accepts connections from other machines"):
        serving_token(ServeConfig(**remote))
    assert serving_token(ServeConfig(**remote, allow_remote=True)) is None
    assert "with no token" in caplog.text and "unencrypted" in caplog.text
    monkeypatch.setenv("SERVE_TOKEN", "tok")
    assert serving_token(ServeConfig(**remote, token_env="SERVE_TOKEN")) == "tok"
    assert serving_token(ServeConfig(model="tiny", token_env="SERVE_TOKEN")) == "tok"
    with pytest.raises(InputError, match=r"\$UNSET_TOKEN, which is not set"):
        serving_token(ServeConfig(model="tiny", token_env="UNSET_TOKEN"))
    code, _, err = cli("serve", "--model", "tiny", "--host", "0.0.0.0", "--port", "0")  # refused before listening
    assert code == 2 and "--allow-remote" in " ".join(err.split())


def test_per_conversation_seeds_match_separate_calls(tiny_model_path):
    from advfc.generation import build_generator

    gen = build_generator("tiny", "hf", device="cpu")
    a, b = [{"role": "user", "content": "hello"}], [{"role": "user", "content": "hi there"}]
    params = SamplingParams(max_new_tokens=5, temperature=1.0, n=2)
    together = gen.generate([a, b], params, seeds=[11, 12])
    apart = [gen.generate([c], replace(params, seed=s))[0] for c, s in ((a, 11), (b, 12))]
    assert [[c.text for c in row] for row in together] == [[c.text for c in row] for row in apart]


def test_an_unnamed_endpoint_serving_lora_adapters_is_refused_rather_than_scored_as_its_base():
    # vLLM `--lora-modules fc=...`: the base is listed first, the adapter with its base as `parent`.
    vllm = reply(data=[{"id": "Qwen/Qwen3-0.6B", "parent": None}, {"id": "fc", "parent": "Qwen/Qwen3-0.6B"}])
    with fake_endpoint(recording(vllm)) as url:
        with pytest.raises(InputError, match=r"serves LoRA adapters \(fc\) on Qwen/Qwen3-0.6B; name the one to score as URL::<adapter>"):
            OpenAIGenerator(url.split("::")[0], max_retries=0)
        assert OpenAIGenerator(url.split("::")[0] + "::fc", max_retries=0).model == "fc"
    with fake_endpoint(recording(reply(data=[{"id": "Qwen/Qwen3-0.6B", "parent": None}]))) as url:
        assert OpenAIGenerator(url.split("::")[0], max_retries=0).model == "Qwen/Qwen3-0.6B"
