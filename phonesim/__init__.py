"""A simulated phone network: places calls against the API exactly as Twilio would.

Signed voice webhook, TwiML parsing, signed media WebSocket, 20 ms μ-law frames in real time,
playback of the receptionist's audio with mark echoes, and ``clear`` obeyed. Used by the demo,
the end-to-end tests and the benchmarks.
"""
