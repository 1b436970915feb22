"""The OpenAI-compatible HTTP policy: against the tiny Qwen2-VL served on 127.0.0.1 through the
in-process code path (answers must be equal), and against scripted fake servers for the failure
modes (retries, timeouts, refusals, garbage). Every request is bounded by a small timeout."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import socket
import threading
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from physgen.config import ConfigError
from physgen.policy.base import Observation
from physgen.policy.openai_compat import HTTPConfig, HTTPPolicy, PolicyUnavailable
from physgen.policy.serve import serve
from physgen.policy.vlm import TransformersPolicy, VLMConfig
from physgen.tasks.codec import AnswerFormat

KEY_ENV = "PHYSGEN_TEST_API_KEY"
KEY = "sk-physgen-test-7f3a9c51"  # fake secrets: they may appear in an Authorization header and nowhere else
WRONG_KEY = "sk-wrong-key-0d9e44b2"
MAX_TOKENS = 8
FMT = AnswerFormat(kind="choice", choices=("yes", "no"))


def completion(content) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "model": "fake",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}]}).encode()


def frames(n: int) -> list[Observation]:
    """Cheap synthetic observations (distinct frames, prompts and seeds) for the fake servers."""
    rng = np.random.default_rng(0)
    return [Observation(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8), f"prompt {i}: yes or no?", "stability",
                        i, FMT) for i in range(n)]


class FakeFlakyServer:
    """A scripted OpenAI-style server on 127.0.0.1 (port 0). The i-th POST gets ``script[i]`` (the last
    entry repeats): ``(status, body)`` or ``(status, body, headers)``; ``mode="hang"`` never answers
    (until closed); ``mode="echo"`` answers each prompt with itself after the delay in seconds that
    follows its first word, the first two requests meeting at a barrier (so they are in flight together).
    Records the requests' bodies and headers."""

    def __init__(self, script=(), mode: str = "script"):
        self.script, self.mode = list(script), mode
        self.requests, self.in_flight, self.max_in_flight = 0, 0, 0
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.closed = threading.Event()
        self.barrier = threading.Barrier(2, timeout=5)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    i = outer.requests
                    outer.requests += 1
                    outer.bodies.append(body)
                    outer.headers.append(dict(self.headers))
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    reply = outer.respond(i, body)
                finally:
                    with outer._lock:
                        outer.in_flight -= 1
                if reply is None:
                    return
                status, data, *headers = reply
                self.send_response(status)
                for k, v in (headers[0] if headers else {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def respond(self, i: int, body: dict):
        if self.mode == "hang":
            self.closed.wait(10)
            return None
        if self.mode == "echo":
            prompt = body["messages"][0]["content"][1]["text"]
            if i < 2:
                self.barrier.wait()
            self.closed.wait(float(prompt.split()[1]))
            return 200, completion(prompt)
        return self.script[min(i, len(self.script) - 1)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def policy_for(url: str, model: str = "fake", **kw) -> HTTPPolicy:
    kw = {"api_key_env": KEY_ENV, "max_tokens": MAX_TOKENS, "timeout_s": 10.0, "backoff_s": 0.01, **kw}
    return HTTPPolicy(HTTPConfig(base_url=url, model=model, **kw))


def leaks(secret: str, *texts: str) -> list[str]:
    return [t for t in texts if secret in t]


# --- the tiny Qwen2-VL, in-process and served --------------------------------------------------------

@pytest.fixture(scope="module")
def local(tiny_models):
    p = TransformersPolicy(VLMConfig(model=str(tiny_models["tiny-qwen2-vl"]), max_new_tokens=MAX_TOKENS))
    yield p
    p.close()


@pytest.fixture(scope="module")
def served(tiny_models):
    server, thread = serve(VLMConfig(model=str(tiny_models["tiny-qwen2-vl"])), api_key=KEY)
    yield server
    server.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_served_answers_equal_in_process_answers_in_order(served, local, vlm_observations, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    expected = [local.act(o) for o in vlm_observations]
    assert any(text.strip() for text in expected)  # the comparison is not between empty answers
    one_by_one = policy_for(served.url, served.model_name, concurrency=1)
    assert [one_by_one.act(o) for o in vlm_observations] == expected
    batched = policy_for(served.url, served.model_name, concurrency=4)
    assert batched.act_batch(vlm_observations[::-1] + vlm_observations) == expected[::-1] + expected
    assert batched.act_batch([]) == []
    assert one_by_one.malformed == batched.malformed == 0 and batched.retried == 0


def test_served_sampling_is_reproducible_with_its_seed(served, vlm_observations, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    a, b, c = (policy_for(served.url, served.model_name, temperature=1.5, seed=s) for s in (7, 7, 8))
    first = [a.act(o) for o in vlm_observations]
    assert [b.act(o) for o in vlm_observations] == first
    assert [c.act(o) for o in vlm_observations] != first


def test_a_wrong_key_fails_at_once_and_no_key_leaks(served, vlm_observations, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, WRONG_KEY)
    p = policy_for(served.url, served.model_name, retries=5, backoff_s=1.0)
    before = served.requests
    with pytest.raises(PolicyUnavailable) as e:
        p.act(vlm_observations[0])
    assert served.requests - before == 1  # refused, not retried
    err = e.value
    assert err.status == 401 and err.attempts == 1 and err.url == served.url + "/chat/completions"
    assert "HTTP 401" in str(err) and served.url in str(err) and KEY_ENV in str(err) and "not retried" in str(err)
    texts = (str(err), repr(err), "".join(traceback.format_exception(err)), caplog.text, json.dumps(p.describe()),
             repr(p), repr(p.config), repr(served))
    assert leaks(WRONG_KEY, *texts) == [] and leaks(KEY, *texts) == []
    assert p.describe()["api_key"] == "set" and p.describe()["config"]["api_key_env"] == KEY_ENV

    monkeypatch.setenv(KEY_ENV, KEY)  # the right key, a model the server does not serve: 404, at once
    before = served.requests
    with pytest.raises(PolicyUnavailable, match=r"HTTP 404.*does not exist.*model name 'no-such-model'") as e:
        policy_for(served.url, "no-such-model", retries=5, backoff_s=1.0).act(vlm_observations[0])
    assert served.requests - before == 1 and e.value.status == 404


def test_the_server_checks_keys_and_requests(served, vlm_observations):
    def call(path, body=None, key=KEY, raw=None):
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(served.url.removesuffix("/v1") + path, data=data,
                                     headers={"Content-Type": "application/json"})
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, doc = call("/v1/models")
    assert status == 200 and [m["id"] for m in doc["data"]] == [served.model_name]
    assert call("/health", key=None)[0] == 200
    for key in (None, WRONG_KEY):
        status, doc = call("/v1/models", key=key)
        assert status == 401 and doc["error"]["type"] == "authentication_error"
    status, doc = call("/v1/chat/completions", raw=b"{not json")
    assert status == 400 and "not JSON" in doc["error"]["message"]
    png = io.BytesIO()
    Image.fromarray(vlm_observations[0].image).save(png, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    image = {"type": "image_url", "image_url": {"url": data_url}}
    text = {"type": "text", "text": "Is it stable?"}
    chat = {"model": served.model_name, "messages": [{"role": "user", "content": [image, text]}], "max_tokens": 2,
            "temperature": 0}
    status, doc = call("/v1/chat/completions", chat)
    assert status == 200 and isinstance(doc["choices"][0]["message"]["content"], str)
    bad = [{"messages": [{"role": "user", "content": [text, image]}]},  # not the in-process order
           {"messages": [{"role": "user", "content": "Is it stable?"}]},
           {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                                                      text]}]},
           {"max_tokens": 0}, {"top_p": 2.0}, {"temperature": "hot"}, {"stream": True}]
    for change in bad:
        status, doc = call("/v1/chat/completions", chat | change)
        assert status == 400 and doc["error"]["type"] == "invalid_request_error", change


# --- the request, and the failure modes, against fake servers ----------------------------------------

def test_the_request_is_the_in_process_chat_with_the_key_from_the_environment(monkeypatch):
    obs = frames(3)
    with FakeFlakyServer([(200, completion("yes"))]) as fake:
        monkeypatch.setenv(KEY_ENV, KEY)
        p = policy_for(fake.url, "m", temperature=0.0)
        assert [p.act(o) for o in obs] + [p.act(obs[0])] == ["yes"] * 4
        monkeypatch.delenv(KEY_ENV)
        assert p.act(obs[0]) == "yes"
        assert policy_for(fake.url, "m", image_format="jpeg").act(obs[0]) == "yes"
    first = fake.bodies[0]
    assert {k: first[k] for k in ("model", "max_tokens", "temperature", "top_p", "n", "stream")} == {
        "model": "m", "max_tokens": MAX_TOKENS, "temperature": 0.0, "top_p": 1.0, "n": 1, "stream": False}
    [turn] = first["messages"]
    assert turn["role"] == "user" and [part["type"] for part in turn["content"]] == ["image_url", "text"]
    assert turn["content"][1]["text"] == obs[0].prompt
    url = turn["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert np.array_equal(sent, obs[0].image)  # lossless: the server sees the very pixels
    assert fake.bodies[-1]["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    seeds = [b["seed"] for b in fake.bodies[:4]]
    assert seeds[3] == seeds[0] and len(set(seeds[:3])) == 3  # per (task, seed) observation, reproducible
    auth = [h.get("Authorization") for h in fake.headers]
    assert auth[:4] == [f"Bearer {KEY}"] * 4 and auth[4:] == [None, None]


def test_act_batch_keeps_order_with_requests_in_flight_together():
    obs = [dataclasses.replace(o, prompt=f"p{i} {0.04 * (5 - i):.2f}") for i, o in enumerate(frames(6))]
    with FakeFlakyServer(mode="echo") as fake:
        p = policy_for(fake.url, concurrency=4)
        assert p.act_batch(obs) == [o.prompt for o in obs]  # later requests answered first
    assert 2 <= fake.max_in_flight <= 4


def test_5xx_and_429_are_retried_until_an_answer(caplog):
    caplog.set_level(logging.WARNING, logger="physgen")
    script = [(500, b'{"error": {"message": "boom"}}'), (429, b"slow down", {"Retry-After": "0"}),
              (503, b"overloaded"), (200, completion("no"))]
    with FakeFlakyServer(script) as fake:
        p = policy_for(fake.url, retries=3)
        assert p.act(frames(1)[0]) == "no"
    assert fake.requests == 4 and p.retried == 3 and p.requests == 4
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 3 and "HTTP 500: boom" in retries[0] and "HTTP 429" in retries[1]


def test_retries_run_out_with_a_clear_error():
    message = r"POST http://127\.0\.0\.1:\d+/v1/chat/completions failed after 3 attempts: HTTP 502: bad gateway"
    with FakeFlakyServer([(502, b"bad gateway")]) as fake, pytest.raises(PolicyUnavailable, match=message) as e:
        policy_for(fake.url, retries=2).act(frames(1)[0])
    assert fake.requests == 3 and e.value.status == 502


def test_a_server_that_never_answers_times_out_after_the_retries():
    with FakeFlakyServer(mode="hang") as fake:
        p = policy_for(fake.url, timeout_s=0.2, retries=1)
        with pytest.raises(PolicyUnavailable, match="after 2 attempts: timed out") as e:
            p.act(frames(1)[0])
    assert fake.requests == 2 and e.value.status is None


def test_a_closed_port_is_unavailable_after_the_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(PolicyUnavailable, match=r"after 3 attempts: connection failed.*is the server running") as e:
        policy_for(f"http://127.0.0.1:{port}/v1", retries=2).act(frames(1)[0])
    assert e.value.url == f"http://127.0.0.1:{port}/v1/chat/completions"


def test_a_redirect_is_not_followed(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    redirect = (307, b"", {"Location": "http://127.0.0.1:9/v1/chat/completions"})
    with FakeFlakyServer([redirect]) as fake, pytest.raises(PolicyUnavailable, match="HTTP 307.*not followed") as e:
        policy_for(fake.url, retries=3).act(frames(1)[0])
    assert fake.requests == 1 and e.value.status == 307 and KEY not in str(e.value)


def test_malformed_answers_are_empty_counted_and_logged_once_per_kind(caplog):
    caplog.set_level(logging.WARNING, logger="physgen")
    script = [(200, b"<html>not json</html>"), (200, b"\xff\xfe"), (200, b'{"choices": []}'), (200, b"[1, 2]"),
              (200, b'{"choices": [{"text": "yes"}]}'), (200, completion(["yes"])), (200, completion(None))]
    with FakeFlakyServer(script) as fake:
        p = policy_for(fake.url, concurrency=1)
        assert p.act_batch(frames(len(script))) == [""] * len(script)
    assert p.malformed == 6 and p.retried == 0 and fake.requests == len(script)  # content null: a real empty answer
    assert p.malformed_kinds == {"not_json": 2, "no_choices": 2, "no_message": 1, "content_not_text": 1}
    assert p.describe()["counters"]["malformed"] == 6
    logged = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(logged) == 4


def test_a_malformed_frame_is_a_value_error_before_anything_is_sent():
    good = frames(1)[0]
    with FakeFlakyServer([(200, completion("yes"))]) as fake:
        p = policy_for(fake.url)
        for image in (np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32), np.zeros((4, 4, 3), np.uint8)):
            with pytest.raises(ValueError, match=r"uint8 array of shape \(H, W, 3\)"):
                p.act_batch([good, dataclasses.replace(good, image=image)])
        with pytest.raises(ValueError, match="prompt"):
            p.act(dataclasses.replace(good, prompt=None))
    assert fake.requests == 0


def test_config_is_validated_and_names_the_field():
    cfg = HTTPConfig.from_dict({"base_url": "https://gpu-box.example:8000/v1/", "model": "Qwen/Qwen2.5-VL-3B"})
    assert cfg.endpoint == "https://gpu-box.example:8000/v1/chat/completions"
    assert cfg.api_key_env == "PHYSGEN_API_KEY" and cfg.temperature == 0.0 and cfg.image_format == "png"
    base = {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    bad = [("base_url", "localhost:8000/v1"), ("base_url", "ftp://host/v1"), ("base_url", "http://"),
           ("base_url", "http://user:secret@host/v1"), ("base_url", "http://host:99999/v1"),
           ("base_url", "http://host/v1?key=1"), ("model", " "), ("api_key_env", "sk-not-a-variable-name"),
           ("timeout_s", 0.0), ("retries", -1), ("retries", 1.5), ("backoff_s", -0.1), ("max_tokens", 0),
           ("temperature", -0.5), ("top_p", 0.0), ("seed", -1), ("image_format", "gif"), ("concurrency", 0)]
    for field, value in bad:
        with pytest.raises(ConfigError) as e:
            HTTPConfig.from_dict(base | {field: value})
        assert e.value.name == f"http.{field}", (field, value)
        if value == "http://user:secret@host/v1":  # a credential is not echoed
            assert "secret" not in str(e.value)
        else:
            assert e.value.value == value, (field, value)
    with pytest.raises(ConfigError, match="http.api_key") as e:
        HTTPConfig.from_dict(base | {"api_key": "sk-123"})  # the key is never configured, only its variable
    assert "sk-123" not in str(e.value)
