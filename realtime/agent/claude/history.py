"""The conversation as Messages API turns: caller → user, agent → assistant, tools → results.

An agent message the caller interrupted is sent as what they heard (the session truncated it),
and the caller's next words are marked as an interruption, so the model neither assumes the
caller heard the rest nor repeats it word for word. The API's rules are kept whatever happened
on the call: the first turn is the user's, roles alternate, text blocks are non-empty, and
every ``tool_use`` is answered by a ``tool_result`` (tools cut short by a barge-in are
answered as cancelled).
"""

from __future__ import annotations

import json
from typing import Any

from realtime.agent.protocol import Conversation, Message

CALL_CONNECTED = "(The call connects.)"
INTERRUPTED = "(The caller interrupted you here.)"
CANCELLED = {"error": "cancelled: the caller spoke before this finished"}


def _blocks(message: Message, interrupted_before: bool) -> list[dict[str, Any]]:
    if message.role == "caller":
        text = message.text.strip()
        if interrupted_before:
            text = f"{INTERRUPTED} {text}".strip()
        return [{"type": "text", "text": text}] if text else []
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": result.call_id,
                "content": json.dumps(result.content, default=str),
                **({"is_error": True} if result.is_error else {}),
            }
            for result in message.tool_results
        ]
    blocks: list[dict[str, Any]] = []
    if message.text.strip():
        blocks.append({"type": "text", "text": message.text.strip()})
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in message.tool_calls
    )
    return blocks


def to_messages(conversation: Conversation) -> list[dict[str, Any]]:
    """The Messages API ``messages`` for the conversation so far."""
    turns: list[dict[str, Any]] = []
    open_calls: list[str] = []  # tool_use ids of the last assistant turn not yet answered
    interrupted = False
    for message in conversation.messages:
        role = "assistant" if message.role == "agent" else "user"
        blocks = _blocks(message, interrupted)
        if message.role == "caller":
            interrupted = False
        elif message.role == "agent":
            interrupted = message.interrupted
        if role == "user":
            # Only results of the assistant turn just before count; the rest never ran.
            blocks = [
                b for b in blocks if b["type"] != "tool_result" or b["tool_use_id"] in open_calls
            ]
            answered = {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"}
            blocks = [_cancelled(i) for i in open_calls if i not in answered] + blocks
            open_calls = []
        else:
            if open_calls:  # an unanswered tool_use cannot stand: answer it as cancelled
                _append(turns, "user", [_cancelled(i) for i in open_calls])
            open_calls = [b["id"] for b in blocks if b["type"] == "tool_use"]
        if blocks:
            _append(turns, role, blocks)
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": CALL_CONNECTED}]})
    return turns


def _cancelled(call_id: str) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": call_id,
        "content": json.dumps(CANCELLED),
        "is_error": True,
    }


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if turns and turns[-1]["role"] == role:
        merged = turns[-1]["content"] + blocks
        # The API wants a user turn's tool results before its text.
        merged.sort(key=lambda b: b["type"] != "tool_result")
        turns[-1]["content"] = merged
    else:
        turns.append({"role": role, "content": list(blocks)})
