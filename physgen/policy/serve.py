"""A small OpenAI-compatible server over :class:`~physgen.policy.vlm.TransformersPolicy`.

For tests and for trying a tiny model locally, **not for production**: one request generates at a
time (a lock around the model), no batching across requests, no streaming, no token accounting
(``usage`` is omitted and ``finish_reason`` is always ``"stop"``). Serve real models with vLLM
(``vllm serve MODEL``) or SGLang (``python -m sglang.launch_server --model-path MODEL``); the
:class:`~physgen.policy.openai_compat.HTTPPolicy` speaks their ``/v1`` API.

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /health`` (no key needed).
A chat request must be what :class:`~physgen.policy.openai_compat.HTTPPolicy` sends: one user turn whose
content is one ``image_url`` part holding a ``data:image/...;base64,`` URL (images are never fetched)
followed by one text part. Anything else is a 400 with an OpenAI-style error body, so a client that
sends a different chat finds out instead of getting a silently different answer. The frame and the
prompt become an :class:`~physgen.policy.base.Observation` answered by ``policy.act``, the in-process
code path, so greedy answers (``temperature: 0``) over PNG frames equal the in-process answers.
``temperature > 0`` samples with the request's ``top_p`` and ``seed``.

    python -m physgen.policy.serve MODEL_DIR_OR_RECIPE --port 8000 [--api-key-env PHYSGEN_API_KEY]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import hmac
import io
import json
import logging
import os
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from physgen.config import ConfigError
from physgen.policy.base import Observation
from physgen.policy.vlm import TransformersPolicy, VLMConfig, check_image
from physgen.tasks.codec import AnswerFormat

log = logging.getLogger("physgen")

MAX_BODY_BYTES = 32 << 20
SERVED_TASK = "served"  # the Observation's task name; only sampling seeds read it
_ANY_FORMAT = AnswerFormat(kind="choice")  # a model policy never reads the answer format


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.status, self.kind = message, param, status, kind


class PolicyServer(ThreadingHTTPServer):
    """The HTTP server; ``policy`` answers, ``url`` is its OpenAI API root (``http://HOST:PORT/v1``),
    ``requests`` counts the requests received. :meth:`stop` shuts it down and frees the model."""

    daemon_threads = True

    def __init__(self, address, policy: TransformersPolicy, model_name: str, api_key: str | None):
        super().__init__(address, _Handler)
        self.policy, self.model_name = policy, model_name
        self._api_key = api_key or None
        self._base_config = policy.config
        self.generate_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests = 0
        self.created = int(time.time())

    def __repr__(self) -> str:
        return f"PolicyServer(url={self.url!r}, model={self.model_name!r}, auth={self._api_key is not None})"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def count(self) -> None:
        with self._count_lock:
            self.requests += 1

    def authorized(self, header: str | None) -> bool:
        if self._api_key is None:
            return True
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._api_key.encode())

    def answer(self, image: np.ndarray, prompt: str, params: dict) -> str:
        """``policy.act`` on one observation, with the request's decoding parameters."""
        sample = params["temperature"] > 0
        changes = dict(max_new_tokens=params["max_tokens"], do_sample=sample, top_p=params["top_p"],
                       seed=params["seed"])
        if sample:
            changes["temperature"] = params["temperature"]
        with self.generate_lock:
            try:
                config = dataclasses.replace(self._base_config, **changes)
            except ConfigError as e:
                param = {"max_new_tokens": "max_tokens"}.get(e.name, e.name)
                raise BadRequest(f"{param}={e.value!r}: expected {e.expected}", param) from None
            self.policy.config = config
            return self.policy.act(Observation(image, prompt, SERVED_TASK, 0, _ANY_FORMAT))

    def stop(self) -> None:
        """Stop serving (bounded: waits for the serve loop's next poll) and free the model."""
        self.shutdown()
        self.server_close()

    def server_close(self) -> None:
        super().server_close()
        with self.generate_lock:  # let a generation in progress finish first
            if self.policy is not None:
                self.policy.close()
                self.policy = None


def serve(model: str | Path | VLMConfig, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
          model_name: str | None = None) -> tuple[PolicyServer, threading.Thread]:
    """Load ``model`` (a model directory, recipe name or :class:`VLMConfig`) and serve it on
    ``host:port`` (0: any free port) from a daemon thread, until ``server.shutdown()`` (or
    ``server.stop()``, which also frees the model). With ``api_key``, every ``/v1`` request must carry
    ``Authorization: Bearer <api_key>`` (else 401). ``model_name`` is the name clients ask for
    (default: the model directory's name); another name is a 404, as on vLLM."""
    config = model if isinstance(model, VLMConfig) else VLMConfig(model=str(model))
    policy = TransformersPolicy(config)
    try:
        server = PolicyServer((host, port), policy, model_name or policy.path.name, api_key)
    except BaseException:
        policy.close()
        raise
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name="physgen-serve")
    thread.start()
    log.info("serving %s as %r at %s (a test server: use vLLM or SGLang for real use)",
             policy.path, server.model_name, server.url)
    return server, thread


class _Handler(BaseHTTPRequestHandler):
    server: PolicyServer
    timeout = 30  # seconds a stalled client may hold its thread
    server_version = "physgen-serve"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        log.debug("serve: %s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self.server.count()
        if self.path == "/health":
            return self._json(200, {"status": "ok"})
        if self.path.rstrip("/") != "/v1/models":
            return self._error(BadRequest(f"no such endpoint: GET {self.path}", status=404, kind="not_found_error"))
        if not self._authorized():
            return None
        return self._json(200, {"object": "list", "data": [
            {"id": self.server.model_name, "object": "model", "created": self.server.created, "owned_by": "physgen"}]})

    def do_POST(self) -> None:
        self.server.count()
        try:
            body = self._body()  # read before answering, so the client is not cut off mid-upload
        except BadRequest as e:
            self.close_connection = True
            return self._error(e)
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._error(BadRequest(f"no such endpoint: POST {self.path}", status=404, kind="not_found_error"))
        if not self._authorized():
            return None
        try:
            image, prompt, params = parse_chat_request(body, self.server.model_name)
            text = self.server.answer(image, prompt, params)
        except BadRequest as e:
            return self._error(e)
        except ValueError as e:  # the policy refused the observation (a malformed frame, ...)
            return self._error(BadRequest(str(e)))
        except Exception as e:
            log.exception("serve: generation failed")
            return self._error(BadRequest(f"internal error: {type(e).__name__}: {e}", status=500, kind="server_error"))
        return self._json(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": self.server.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        })

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            raise BadRequest("a Content-Length header is required", status=411)
        if int(length) > MAX_BODY_BYTES:
            raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes", status=413)
        return self.rfile.read(int(length))

    def _authorized(self) -> bool:
        if self.server.authorized(self.headers.get("Authorization")):
            return True
        self._error(BadRequest("invalid or missing API key (send Authorization: Bearer <key>)", status=401,
                               kind="authentication_error"))
        return False

    def _error(self, e: BadRequest) -> None:
        self._json(e.status, {"error": {"message": e.message, "type": e.kind, "param": e.param, "code": e.status}})

    def _json(self, status: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def parse_chat_request(body: bytes, model_name: str) -> tuple[np.ndarray, str, dict]:
    """(frame, prompt, decoding parameters) of a chat completions request body; else :class:`BadRequest`."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise BadRequest(f"the request body is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadRequest("the request body must be a JSON object")
    if doc.get("model") != model_name:
        raise BadRequest(f"The model `{doc.get('model')}` does not exist (this server serves {model_name!r}).",
                         "model", status=404, kind="not_found_error")
    if doc.get("stream"):
        raise BadRequest("streaming is not supported by this test server", "stream")
    if doc.get("n", 1) != 1:
        raise BadRequest("only n=1 is supported", "n")
    messages = doc.get("messages")
    if not (isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], dict)
            and messages[0].get("role") == "user"):
        raise BadRequest("messages must be exactly one user turn (this server answers one frame and one prompt)",
                         "messages")
    content = messages[0].get("content")
    kinds = [p.get("type") if isinstance(p, dict) else None for p in content] if isinstance(content, list) else None
    if kinds != ["image_url", "text"]:
        raise BadRequest("the user turn's content must be [an image_url part, a text part], in that order, "
                         f"as the in-process policy builds it; got {kinds or type(content).__name__}", "messages")
    image = decode_data_url(content[0].get("image_url"))
    prompt = content[1].get("text")
    if not isinstance(prompt, str):
        raise BadRequest("the text part's text must be a string", "messages")
    params = {"max_tokens": doc.get("max_completion_tokens", doc.get("max_tokens", 16)),
              "temperature": doc.get("temperature", 1.0), "top_p": doc.get("top_p", 1.0), "seed": doc.get("seed", 0)}
    for name, value in params.items():
        integer = name in ("max_tokens", "seed")
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            raise BadRequest(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}", name)
    if params["temperature"] < 0:
        raise BadRequest(f"temperature must be >= 0, got {params['temperature']!r}", "temperature")
    params["seed"] %= 2**32
    return image, prompt, params


def decode_data_url(part) -> np.ndarray:
    """The RGB frame in an ``image_url`` part (``{"url": "data:image/...;base64,..."}``)."""
    from PIL import Image, UnidentifiedImageError

    url = part.get("url") if isinstance(part, dict) else part
    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise BadRequest("image_url.url must be a data:image/...;base64, URL (this server fetches nothing)",
                         "messages")
    try:
        raw = base64.b64decode(url.split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            frame = np.asarray(img.convert("RGB"))
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise BadRequest(f"image_url: not a decodable base64 image: {e}", "messages") from None
    try:
        return check_image(frame)
    except ValueError as e:
        raise BadRequest(str(e), "messages") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m physgen.policy.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a model directory or recipe name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--name", default=None, help="the model name clients ask for (default: the directory name)")
    parser.add_argument("--api-key-env", default=None,
                        help="require the API key held by this environment variable (never pass a key on the "
                             "command line: other users can read it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env, "").strip()
        if not api_key:
            parser.error(f"--api-key-env {args.api_key_env}: that environment variable is not set")
    server, thread = serve(args.model, args.host, args.port, api_key, args.name)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops it as cleanly as Ctrl-C
    print(f"serving at {server.url} (model {server.model_name!r}); Ctrl-C stops", flush=True)
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
