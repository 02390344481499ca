"""The voice-loop benchmark harness: simulated callers, the served API, and measurements."""
