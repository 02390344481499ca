"""What an inbound SMS reply means. Keywords follow the US carrier opt-out rules (CTIA):
any of STOP, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE (alone, any case) opts out."""

from __future__ import annotations

import re
from typing import Literal

Meaning = Literal["stop", "confirm", "reschedule", "start", "other"]

STOP_WORDS = {
    "STOP",
    "STOPALL",
    "QUIT",
    "END",
    "REVOKE",
    "OPT OUT",
    "OPTOUT",
    "CANCEL",
    "UNSUBSCRIBE",
}
START_WORDS = {"START", "UNSTOP", "YES START"}
CONFIRM_WORDS = {"C", "YES", "Y", "CONFIRM", "CONFIRMED", "OK"}
RESCHEDULE_WORDS = {"R", "RESCHEDULE", "REBOOK", "CHANGE"}


def classify(body: str) -> Meaning:
    words = re.sub(r"[^A-Z ]+", " ", body.upper()).split()
    text = " ".join(words)
    if text in STOP_WORDS:
        return "stop"
    if text in START_WORDS:
        return "start"
    if text in CONFIRM_WORDS:
        return "confirm"
    if text in RESCHEDULE_WORDS:
        return "reschedule"
    return "other"
