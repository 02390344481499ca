"""The outbound opening: when the receptionist places the call, it says who it is and why it
called, and the dialogue goes on from there (a "yes" to a recall books that visit; moving or
cancelling works as on any call).

Nothing private is said before the person is identified: the reason is phrased without the
patient's name or clinical detail, since anyone may have picked up.
"""

from __future__ import annotations

from realtime.agent.protocol import ClinicProfile

# Outreach kind -> what the call is about, in the words we open with.
REASONS = {
    "recall": "it's time to schedule your next visit with us. Would you like me to book it now?",
    "no_show": "we missed you at your recent visit. Would you like me to book a new time now?",
    "confirm": "your upcoming appointment. If you need to move it, I can help you with that now.",
    "reminder": "your upcoming appointment. If you need to move it, I can help you with that now.",
}


def purpose_for(kind: str, visit_code: str | None) -> str:
    """The ``Conversation.purpose`` for an outreach: recalls name the visit to offer."""
    if kind in ("recall", "no_show") and visit_code:
        return f"recall:{visit_code}"
    return kind


def opening(profile: ClinicProfile, kind: str) -> str:
    lead = "I'm calling because" if kind in ("recall", "no_show") else "I'm calling about"
    reason = REASONS.get(kind, REASONS["confirm"])
    return f"Hi, this is {profile.agent_name} from {profile.name}. {lead} {reason}"
