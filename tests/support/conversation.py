"""Text-only calls for tests: the harness lives in ``evals.text_call`` (the conversation evals
drive the same calls and must not import tests)."""

from evals.text_call import RecordingControl, TextCall

__all__ = ["RecordingControl", "TextCall"]
