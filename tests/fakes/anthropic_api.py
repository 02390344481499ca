"""Anthropic's Messages API (``POST /v1/messages``), enough of it for a tool-using agent.

Speaks the documented wire protocol: API key authentication (401 ``authentication_error``),
request validation (400 ``invalid_request_error``: roles, empty text blocks, a ``tool_result``
without its ``tool_use`` in the preceding assistant turn), a JSON ``Message`` reply, or with
``stream: true`` server-sent events — ``message_start``, ``ping``, per content block
``content_block_start`` / ``content_block_delta`` (``text_delta``, ``input_json_delta``) /
``content_block_stop``, ``message_delta`` with the ``stop_reason``, ``message_stop``. Errors use
the documented body ``{"type": "error", "error": {"type": ..., "message": ...}}``.

Authentication accepts the key as ``x-api-key`` (documented) or ``Authorization: Bearer``
(what the anthropic SDK 2.x sends).

What to answer is decided per test by a *brain*: a function of the request body returning the
content blocks of the reply (``Text`` and ``ToolUse``). The server records every request so
tests can assert on prompts, caching markers and history. ``Latency`` sets the time to the
first token and the token rate, to reproduce a provider's published latency profile.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.fakes import FakeHttpApi

API_KEY = "sk-ant-test-0123456789"


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]


Block = Text | ToolUse
Brain = Callable[[dict[str, Any]], list[Block]]


@dataclass
class Latency:
    """Time to the first token (after ``message_start``) and between tokens, in seconds."""

    first_token_s: float = 0.0
    token_s: float = 0.0
    jitter_s: float = 0.0  # uniform ± on the first token, seeded for repeatable runs
    seed: int = 7
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def first_token(self) -> float:
        jitter = self._random.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0
        return max(0.0, self.first_token_s + jitter)


PUBLISHED = Latency(first_token_s=0.6, token_s=0.012, jitter_s=0.08)


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(error_body(kind, message), status_code=status, headers=headers)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _tokens(text: str) -> list[str]:
    """Roughly what a tokenizer streams: words with their leading space."""
    return re.findall(r"\s*\S+", text) or [text]


class RequestInvalid(ValueError):
    pass


def validate(body: dict[str, Any]) -> None:
    """The checks the real API makes that a client bug would trip."""
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise RequestInvalid(f"{name}: Field required")
    messages = body["messages"]
    if not messages or messages[0].get("role") != "user":
        raise RequestInvalid("messages: first message must use the user role")
    previous_tool_ids: set[str] = set()
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            raise RequestInvalid(f"messages.{index}.role: must be user or assistant")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not blocks:
            raise RequestInvalid(f"messages.{index}: content must be non-empty")
        tool_ids: set[str] = set()
        for block in blocks:
            if block.get("type") == "text" and not block.get("text", "").strip():
                raise RequestInvalid(f"messages.{index}: text content blocks must be non-empty")
            if block.get("type") == "tool_use":
                tool_ids.add(block["id"])
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in (
                previous_tool_ids
            ):
                raise RequestInvalid(
                    f"messages.{index}: unexpected tool_use_id found in tool_result blocks"
                )
        previous_tool_ids = tool_ids if message["role"] == "assistant" else set()


class FakeAnthropic(FakeHttpApi):
    """The Messages API on loopback. ``brain`` decides each reply from the request."""

    def __init__(
        self, brain: Brain, *, api_key: str = API_KEY, latency: Latency | None = None
    ) -> None:
        super().__init__()
        self.brain = brain
        self.api_key = api_key
        self.latency = latency or Latency()
        self.stalls: deque[float] = deque()  # per request: wait this long before answering
        self.failures_mid_stream: deque[str] = deque()  # an SSE error event after one token

    # --- test controls -------------------------------------------------------------------

    def rate_limit_next(self, retry_after_s: float | None = None) -> None:
        headers = {"retry-after": f"{retry_after_s:g}"} if retry_after_s is not None else {}
        self.fail_next(
            429, error_body("rate_limit_error", "Number of requests has exceeded your rate limit"),
            headers,
        )  # fmt: skip

    def overload_next(self) -> None:
        self.fail_next(529, error_body("overloaded_error", "Overloaded"))

    def server_error_next(self) -> None:
        self.fail_next(500, error_body("api_error", "Internal server error"))

    def stall_next(self, seconds: float) -> None:
        self.stalls.append(seconds)

    @property
    def message_requests(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests_to("POST", "/v1/messages")]

    # --- the API -------------------------------------------------------------------------

    def build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/messages")
        async def messages(request: Request) -> Response:
            # The documented header is x-api-key; SDK 2.x sends the key as a bearer token.
            presented = request.headers.get("x-api-key") or request.headers.get(
                "authorization", ""
            ).removeprefix("Bearer ")
            if presented != self.api_key:
                return _error(401, "authentication_error", "invalid x-api-key")
            if not request.headers.get("anthropic-version"):
                return _error(400, "invalid_request_error", "anthropic-version header required")
            try:
                body = json.loads(await request.body())
                validate(body)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return _error(400, "invalid_request_error", str(exc))
            if self.stalls:
                await asyncio.sleep(self.stalls.popleft())
            blocks = self.brain(body)
            message_id = f"msg_{secrets.token_hex(12)}"
            if body.get("stream"):
                return StreamingResponse(
                    self._stream(message_id, body, blocks),
                    media_type="text/event-stream",
                    headers={"request-id": f"req_{secrets.token_hex(8)}"},
                )
            await asyncio.sleep(self.latency.first_token())
            return JSONResponse(self._message(message_id, body, blocks, final=True))

        return app

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        cached = sum(
            1 for b in body.get("system") or [] if isinstance(b, dict) and "cache_control" in b
        )
        size = len(json.dumps(body))
        return {
            "input_tokens": size // 4,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1024 if cached else 0,
            "output_tokens": 1,
        }

    def _message(
        self, message_id: str, body: dict[str, Any], blocks: list[Block], *, final: bool
    ) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if final:
            for index, block in enumerate(blocks):
                if isinstance(block, Text):
                    content.append({"type": "text", "text": block.text})
                else:
                    content.append(
                        {
                            "type": "tool_use",
                            "id": f"toolu_{message_id[-8:]}{index}",
                            "name": block.name,
                            "input": block.input,
                        }
                    )
        stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop if final else None,
            "stop_sequence": None,
            "usage": self._usage(body),
        }

    async def _stream(
        self, message_id: str, body: dict[str, Any], blocks: list[Block]
    ) -> AsyncIterator[bytes]:
        yield _sse(
            "message_start",
            {"type": "message_start", "message": self._message(message_id, body, blocks, final=False)},
        )  # fmt: skip
        yield _sse("ping", {"type": "ping"})
        await asyncio.sleep(self.latency.first_token())
        fail = self.failures_mid_stream.popleft() if self.failures_mid_stream else None
        output_tokens = 0
        for index, block in enumerate(blocks):
            if isinstance(block, Text):
                start: dict[str, Any] = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": t} for t in _tokens(block.text)]
            else:
                start = {
                    "type": "tool_use",
                    "id": f"toolu_{message_id[-8:]}{index}",
                    "name": block.name,
                    "input": {},
                }
                raw = json.dumps(block.input)
                parts = [raw[i : i + 12] for i in range(0, len(raw), 12)]
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in parts]
            yield _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
            for delta in deltas:
                yield _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
                output_tokens += 1
                if fail is not None:
                    yield _sse("error", error_body(fail, "Overloaded"))
                    return
                if self.latency.token_s:
                    await asyncio.sleep(self.latency.token_s)
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
        stop = "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        yield _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
        yield _sse("message_stop", {"type": "message_stop"})


# --- helpers for brains ----------------------------------------------------------------------


def user_text(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if b.get("type") == "text")


def last_caller_text(body: dict[str, Any]) -> str:
    """The newest user message that is speech, not tool results."""
    for message in reversed(body["messages"]):
        if message["role"] == "user" and user_text(message).strip():
            return user_text(message)
    return ""


def tool_results(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every tool result of the conversation by tool name, oldest first, parsed from JSON."""
    names: dict[str, str] = {}
    found: dict[str, list[dict[str, Any]]] = {}
    for message in body["messages"]:
        if isinstance(message["content"], str):
            continue
        for block in message["content"]:
            if block.get("type") == "tool_use":
                names[block["id"]] = block["name"]
            elif block.get("type") == "tool_result":
                content = block.get("content")
                text = (
                    content
                    if isinstance(content, str)
                    else "".join(c.get("text", "") for c in content or [])
                )
                found.setdefault(names[block["tool_use_id"]], []).append(json.loads(text))
    return found


def pending_tool_results(body: dict[str, Any]) -> bool:
    last = body["messages"][-1]
    return not isinstance(last["content"], str) and any(
        b.get("type") == "tool_result" for b in last["content"]
    )


def booking_brain(body: dict[str, Any]) -> list[Block]:
    """A receptionist that books a cleaning for a caller known by their phone number.

    It offers and books only times from ``find_slots`` results and the patient id from
    ``lookup_patient``: like the real model, it has no other source of availability.
    """
    results = tool_results(body)
    if pending_tool_results(body):
        last = body["messages"][-1]["content"]
        done = {b["tool_use_id"] for b in last}
        used = {
            b["id"]: b["name"]
            for b in body["messages"][-2]["content"]
            if isinstance(b, dict) and b.get("type") == "tool_use"
        }
        latest = {used[i] for i in done if i in used}
        if "book_appointment" in latest:
            booked = results["book_appointment"][-1]
            if booked.get("status") == "booked":
                return [Text(f"You're all set for {booked['spoken']}. Anything else I can do?")]
            return [Text("Sorry, that time was just taken. Shall I look for another?")]
        if "end_call" in latest or "transfer_to_human" in latest:
            return []
        options = (results.get("find_slots") or [{}])[-1].get("options") or []
        if not options:
            return [Text("I'm sorry, I don't see any openings. Shall I check another week?")]
        first = options[0]
        return [Text(f"I have {first['spoken']} with {first['provider']}. Would that work?")]
    said = last_caller_text(body).lower()
    if any(word in said for word in ("no that is all", "goodbye", "that's all", "that is all")):
        return [Text("Thanks for calling, have a great day!"), ToolUse("end_call", {})]
    if "yes" in said and "find_slots" in results:
        option = results["find_slots"][-1]["options"][0]
        patient = (results.get("lookup_patient") or [{}])[-1]
        return [
            Text("Great, booking that now."),
            ToolUse(
                "book_appointment",
                {"option_id": option["option_id"], "patient_id": patient.get("patient_id")},
            ),
        ]
    if "cleaning" in said:
        return [
            Text("Sure, let me check our schedule for a cleaning."),
            ToolUse("lookup_patient", {"use_caller_phone": True}),
            ToolUse("find_slots", {"appointment_type": "cleaning"}),
        ]
    return [Text("How can I help you today?")]
