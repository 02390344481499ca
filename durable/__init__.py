"""The client side of durable work: how the voice loop and the API start and signal workflows.

Each call is fast and idempotent: workflow ids are derived from the request, so a retried tool
call or a duplicate webhook joins the same workflow instead of starting a second one.
"""
