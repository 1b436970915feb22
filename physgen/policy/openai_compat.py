"""The OpenAI-compatible HTTP backend: a VLM served by vLLM, SGLang or Ollama as a :class:`Policy`.

Each observation becomes one ``POST {base_url}/chat/completions`` request carrying the same chat the
in-process policy builds (:func:`~physgen.policy.vlm.user_turn`: the frame, then the prompt), with
the frame as an ``image_url`` content part holding a ``data:image/png;base64,...`` URL. The answer
is ``choices[0].message.content``; the codec judges it, as for any policy.

Failures are split by whose problem they are:

- **the server is unreachable or overloaded** (connection refused or reset, timeout, HTTP 408, 429,
  5xx): retried ``retries`` times with exponential backoff (``backoff_s * 2**k``, capped at
  :data:`MAX_BACKOFF_S`; a numeric ``Retry-After`` is honoured up to the same cap), then
  :class:`PolicyUnavailable`.
- **the request is refused** (any other 4xx, e.g. a wrong API key or an unknown model; or a
  redirect, which is never followed so the API key cannot travel to another address): fails at once
  with :class:`PolicyUnavailable`, without retrying.
- **the server answers garbage** (a 2xx whose body is not JSON or has no ``choices[0].message``):
  a policy answer problem, not an outage. The answer is ``""`` (the codec rejects it as ``empty``),
  :attr:`HTTPPolicy.malformed` is incremented and each kind of malformation is logged once.

The API key is read from the environment variable named by ``api_key_env`` at each request and sent
as ``Authorization: Bearer ...``. It is never part of the config, ``describe()``, a ``repr``, a log
line or an exception message (server error texts are redacted before use). When the variable is
unset or empty, no ``Authorization`` header is sent (a local vLLM needs none).

Greedy decoding (``temperature: 0``) over PNG frames (lossless) gives the server exactly the pixels
and text the in-process policy would see; JPEG frames are smaller but lossy, so answers may differ.
``timeout_s`` bounds each socket operation (connect, each read), not the whole request.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import os
import re
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import numpy as np

from physgen.config import ConfigError, build, in_range, require, to_dict
from physgen.policy.base import Observation, Policy
from physgen.policy.vlm import check_image, user_turn
from physgen.types import stable_hash

log = logging.getLogger("physgen")

MAX_BACKOFF_S = 30.0  # no single wait between attempts is longer than this
MAX_RESPONSE_BYTES = 16 << 20  # a chat completion is kilobytes; more is treated as malformed
MAX_ERROR_CHARS = 300  # of a server's error text quoted in an exception
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
MALFORMED_KINDS = {
    "not_json": "the body is not JSON",
    "no_choices": "no choices[0]",
    "no_message": "choices[0] has no message object",
    "content_not_text": "message.content is neither a string nor null",
    "too_large": f"the body is larger than {MAX_RESPONSE_BYTES} bytes",
}


class PolicyUnavailable(RuntimeError):
    """The policy server could not answer: names the URL, the attempts and the last error (never the
    API key). ``status`` is the last HTTP status, or None when no HTTP response came back."""

    def __init__(self, url: str, attempts: int, last_error: str, status: int | None = None, hint: str = ""):
        self.url, self.attempts, self.last_error, self.status = url, attempts, last_error, status
        tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
        super().__init__(f"policy server unavailable: POST {url} failed after {tries}: {last_error}"
                         + (f" ({hint})" if hint else ""))


@dataclass(frozen=True)
class HTTPConfig:
    """The HTTP policy's settings. ``base_url`` is the server's OpenAI API root (vLLM, SGLang and
    Ollama serve it at ``http://HOST:PORT/v1``); ``model`` is the name the server knows the model by.
    ``api_key_env`` names the environment variable that holds the API key (the key itself is never
    configured here). ``temperature: 0`` is greedy decoding; ``seed`` makes sampling reproducible
    (each request carries a seed derived from it and the observation's task and seed).
    ``concurrency`` requests of a batch are in flight at once."""

    base_url: str
    model: str
    name: str = "http"
    api_key_env: str = "PHYSGEN_API_KEY"
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 0.5
    max_tokens: int = 16
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    image_format: Literal["png", "jpeg"] = "png"
    concurrency: int = 4

    def __post_init__(self) -> None:
        if _has_userinfo(self.base_url):  # the value is redacted: it holds a secret
            raise ConfigError("base_url", _redact_userinfo(self.base_url),
                              "a URL without credentials: put the API key in the environment variable api_key_env")
        require(_valid_base_url(self.base_url), "base_url", self.base_url,
                "an http:// or https:// URL with a host and no credentials, query or fragment, "
                "such as http://127.0.0.1:8000/v1 (the API key goes in the environment variable api_key_env)")
        require(bool(self.model.strip()), "model", self.model, "the model name the server serves")
        require(bool(self.name.strip()), "name", self.name, "a non-empty policy name")
        require(bool(_ENV_NAME.match(self.api_key_env)), "api_key_env", self.api_key_env,
                "the name of an environment variable (letters, digits, underscore), not the key itself")
        require(0.0 < self.timeout_s <= 3600.0, "timeout_s", self.timeout_s, "a number of seconds in (0, 3600]")
        in_range("retries", self.retries, 0, 20)
        in_range("backoff_s", self.backoff_s, 0.0, MAX_BACKOFF_S)
        in_range("max_tokens", self.max_tokens, 1, 4096)
        in_range("temperature", self.temperature, 0.0, 100.0)
        require(0.0 < self.top_p <= 1.0, "top_p", self.top_p, "a number in (0, 1]")
        in_range("seed", self.seed, 0, 2**32 - 1)
        in_range("concurrency", self.concurrency, 1, 64)

    @classmethod
    def from_dict(cls, data: dict, where: str = "http") -> HTTPConfig:
        for key in ("api_key", "key", "token", "api_token"):
            if isinstance(data, dict) and key in data:  # never echo a key given here
                prefix = f"{where}." if where else ""
                raise ConfigError(prefix + key, "***", "no API key in the config: set api_key_env to the name of "
                                  "the environment variable holding it (default PHYSGEN_API_KEY)")
        return build(cls, data, where)

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


def _valid_base_url(url) -> bool:
    if not isinstance(url, str) or not url or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc
            and not parts.query and not parts.fragment)


def _has_userinfo(url) -> bool:
    if not isinstance(url, str):
        return False
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return "@" in url


def _redact_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url)
        return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
    except ValueError:
        return "***"


def image_data_url(image: np.ndarray, image_format: str = "png") -> str:
    """``image`` (an RGB frame, see :func:`check_image`) as a ``data:image/...;base64,`` URL."""
    from PIL import Image

    buf = io.BytesIO()
    pil = Image.fromarray(check_image(image))
    if image_format == "png":
        pil.save(buf, format="PNG")
    else:
        pil.save(buf, format="JPEG", quality=95)
    return f"data:image/{image_format};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def chat_messages(prompt: str, image_url: str) -> list[dict]:
    """The OpenAI ``messages`` for one observation: :func:`user_turn` with its image part carrying
    ``image_url``, so the HTTP and in-process policies send the same turn."""
    turn = user_turn(prompt)
    content = [{"type": "image_url", "image_url": {"url": image_url}} if part["type"] == "image" else dict(part)
               for part in turn["content"]]
    return [{"role": turn["role"], "content": content}]


class _Refused(Exception):
    """A response that retrying will not change (4xx other than 408/429, or a redirect)."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status = status


class _Transient(Exception):
    """A failure that may pass: connection trouble, timeout, 408, 429, 5xx."""

    def __init__(self, text: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(text)
        self.status, self.retry_after = status, retry_after


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx surfaces as an HTTPError: a POST is not re-sent elsewhere, nor is the key


class HTTPPolicy(Policy):
    """A VLM behind an OpenAI-compatible chat completions endpoint (see the module doc)."""

    def __init__(self, config: HTTPConfig):
        if not isinstance(config, HTTPConfig):
            raise TypeError(f"HTTPPolicy needs an HTTPConfig, got {type(config).__name__}")
        self.config = config
        self.name = config.name
        self.url = config.endpoint
        self.malformed = 0  # 2xx answers that were not a chat completion (returned as "")
        self.malformed_kinds: dict[str, int] = {}
        self.requests = 0  # HTTP requests sent, retries included
        self.retried = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        return f"HTTPPolicy(name={self.name!r}, url={self.url!r}, model={self.config.model!r})"

    def act(self, obs: Observation) -> str:
        return self._answer(self._payload(obs))

    def act_batch(self, batch: list[Observation]) -> list[str]:
        """Answers in order, up to ``config.concurrency`` requests in flight. Every frame is checked
        before anything is sent; the first request that fails for good cancels those not yet sent."""
        payloads = [self._payload(o) for o in batch]
        if len(payloads) <= 1 or self.config.concurrency == 1:
            return [self._answer(p) for p in payloads]
        with ThreadPoolExecutor(min(self.config.concurrency, len(payloads)), thread_name_prefix="physgen-http") as ex:
            futures = [ex.submit(self._answer, p) for p in payloads]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def describe(self) -> dict:
        with self._lock:
            counters = {"requests": self.requests, "retried": self.retried, "malformed": self.malformed,
                        "malformed_kinds": dict(self.malformed_kinds)}
        return {"name": self.name, "backend": "openai-http", "url": self.url, "model": self.config.model,
                "api_key": "set" if self._key() else "unset", "config": to_dict(self.config), "counters": counters}

    def close(self) -> None:
        self._closed.set()  # a request waiting to retry gives up

    # --- one request -----------------------------------------------------------------------------

    def _payload(self, obs: Observation) -> dict:
        if not isinstance(obs.prompt, str):
            raise ValueError(f"observation prompt: expected a string, got {type(obs.prompt).__name__}")
        cfg = self.config
        words = [cfg.seed, stable_hash(str(obs.task)), int(obs.seed) % 2**32]
        seed = int(np.random.SeedSequence(words).generate_state(1)[0]) & 0x7FFFFFFF  # int32-safe for every server
        return {"model": cfg.model, "messages": chat_messages(obs.prompt, image_data_url(obs.image, cfg.image_format)),
                "max_tokens": cfg.max_tokens, "temperature": cfg.temperature, "top_p": cfg.top_p, "seed": seed,
                "n": 1, "stream": False}

    def _key(self) -> str:
        return os.environ.get(self.config.api_key_env, "").strip()

    def _answer(self, payload: dict) -> str:
        data = json.dumps(payload).encode()
        attempts = self.config.retries + 1
        last: _Transient | None = None
        for attempt in range(attempts):
            if attempt:
                delay = min(self.config.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
                if last is not None and last.retry_after is not None:
                    delay = min(max(delay, last.retry_after), MAX_BACKOFF_S)
                log.warning("%s: POST %s: %s (attempt %d of %d); retrying in %.2f s",
                            self.name, self.url, last, attempt, attempts, delay)
                if self._closed.wait(delay):
                    raise PolicyUnavailable(self.url, attempt, f"{last}; the policy was closed")
                with self._lock:
                    self.retried += 1
            try:
                return self._content(self._post(data))
            except _Refused as e:
                hint = "; ".join(h for h in ("not retried: the server refused the request", self._hint(e.status)) if h)
                raise PolicyUnavailable(self.url, attempt + 1, str(e), e.status, hint) from None
            except _Transient as e:
                last = e
        raise PolicyUnavailable(self.url, attempts, str(last), last.status if last else None,
                                self._hint(last.status) if last else "") from None

    def _post(self, data: bytes) -> bytes:
        req = urllib.request.Request(self.url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        key = self._key()
        if key:
            req.add_unredirected_header("Authorization", f"Bearer {key}")
        with self._lock:
            self.requests += 1
        try:
            with self._opener.open(req, timeout=self.config.timeout_s) as resp:
                body = resp.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as e:
            text = f"HTTP {e.code}" + (f": {msg}" if (msg := self._error_text(e)) else "")
            e.close()
            if e.code in _RETRY_STATUS:
                raise _Transient(text, e.code, _retry_after(e.headers)) from None
            raise _Refused(e.code, text) from None
        except urllib.error.URLError as e:
            reason = e.reason
            kind = "timed out" if isinstance(reason, TimeoutError) else "connection failed"
            raise _Transient(self._redact(f"{kind}: {reason}")) from None
        except TimeoutError as e:
            raise _Transient(f"timed out after {self.config.timeout_s} s waiting for the answer ({e})") from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise _Transient(self._redact(f"connection failed: {type(e).__name__}: {e}")) from None
        return body

    def _content(self, body: bytes) -> str:
        if len(body) > MAX_RESPONSE_BYTES:
            return self._malformed("too_large")
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return self._malformed("not_json")
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return self._malformed("no_choices")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            return self._malformed("no_message")
        content = message.get("content")
        if content is None:
            return ""  # a completion without text (e.g. a refusal): a real, empty answer
        if not isinstance(content, str):
            return self._malformed("content_not_text")
        return content

    def _malformed(self, kind: str) -> str:
        with self._lock:
            self.malformed += 1
            first = kind not in self.malformed_kinds
            self.malformed_kinds[kind] = self.malformed_kinds.get(kind, 0) + 1
        if first:
            log.warning("%s: POST %s answered with a malformed chat completion (%s); answering \"\" "
                        "(logged once per kind, counted in describe()['counters'])", self.name, self.url,
                        MALFORMED_KINDS[kind])
        return ""

    def _error_text(self, e: urllib.error.HTTPError) -> str:
        """The server's error message (OpenAI, vLLM or FastAPI style), short and with the key redacted."""
        try:
            raw = e.read(4096)
        except Exception:  # the status alone still says what happened
            return ""
        text = raw.decode("utf-8", "replace").strip()
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            err = doc.get("error", doc)
            msg = (err.get("message") or err.get("detail")) if isinstance(err, dict) else err
            text = str(msg) if msg is not None else text
        text = " ".join(text.split())
        return self._redact(text[:MAX_ERROR_CHARS] + ("..." if len(text) > MAX_ERROR_CHARS else ""))

    def _redact(self, text: str) -> str:
        key = self._key()
        return text.replace(key, "***") if key else text

    def _hint(self, status: int | None) -> str:
        env = self.config.api_key_env
        if status in (401, 403):
            return (f"check the API key in the environment variable {env}, which is "
                    + ("set" if self._key() else "not set"))
        if status == 404:
            return f"check base_url (servers usually serve the API under /v1) and the model name {self.config.model!r}"
        if status is not None and 300 <= status < 400:
            return "redirects are not followed, so the API key stays with base_url: set base_url to the final address"
        if status is None:
            return "is the server running and reachable from here?"
        return ""


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the exponential backoff applies
