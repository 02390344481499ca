"""Outbound outreach: who to contact (targets), what to say (templates), and when it is allowed
(rules: quiet hours, caps, opt-outs, rate limits). Pure domain code plus database queries; the
durable orchestration lives in ``workflows/`` and ``durable/campaigns.py``."""
