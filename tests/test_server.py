"""The OpenAI-compatible path: `advfc serve` as a real subprocess, the endpoint backend against
it, and endpoints that are down or answer garbage."""

import json
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from advfc.errors import InputError
from advfc.evaluation import result_path
from advfc.generation import OpenAIGenerator, SamplingParams
from advfc.io import read_jsonl

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
