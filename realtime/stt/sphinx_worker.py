"""The pocketsphinx worker process: decodes many calls' audio away from the event loop.

pocketsphinx holds the GIL while it decodes (finalising one utterance takes ~80 ms), so a thread
would stall every call's event loop; a child process does not. The parent talks to it over
stdin/stdout in frames of ``HEADER`` (stream id, op, payload length) + payload: audio as raw
μ-law, everything else as JSON. Run as ``python -m realtime.stt.sphinx_worker``.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

HEADER = struct.Struct(">IBI")
# parent → worker
OPEN, AUDIO, END, CLOSE = 1, 2, 3, 4
# worker → parent
OPENED, INTERIM, FINAL, FAILED = 11, 12, 13, 14

SAMPLES_PER_SECOND = 8000  # μ-law bytes arriving per second of audio
IDLE_DECODERS = 8  # per language model, kept for the next calls
MODELS_KEPT = 4  # language models kept loaded with no call using them (LRU)


def frame(stream: int, op: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(stream, op, len(payload)) + payload


@dataclass(frozen=True)
class Options:
    arpa: str
    dictionary: str
    second_pass: bool = True  # fwdflat + bestpath: ~80 ms to finalise, fewer errors
    interim_ms: int = 200
    max_utterance_s: float = 30.0

    def key(self) -> tuple[str, str, bool]:
        return (self.arpa, self.dictionary, self.second_pass)


class Recognizer:
    """One call: streams audio into a decoder, one utterance at a time.

    The decoder's cepstral mean (``cmn live``) is left alone between utterances, so later
    utterances start from the call's own channel and voice instead of the model's default.
    """

    def __init__(self, decoder: Any, options: Options) -> None:
        from realtime.audio import codec

        self.decoder = decoder
        self.options = options
        self._codec = codec
        # Plain interpolation on purpose: its attenuated images above 4 kHz are recognised
        # better than an empty band by the wideband acoustic model (measured).
        self._resampler = codec.Resampler(8000, 16000, filtered=False)
        self._in_utterance = False
        self._samples = 0
        self._interim_at = 0
        self._interim = ""
        self.heard_speech = False

    def audio(self, ulaw: bytes) -> list[tuple[int, dict[str, Any]]]:
        if not self._in_utterance:
            self.decoder.start_utt()
            self._in_utterance, self._samples, self._interim_at, self._interim = True, 0, 0, ""
        pcm = self._resampler.process(self._codec.ulaw_to_pcm16(ulaw))
        self.decoder.process_raw(pcm)
        self._samples += len(ulaw)
        events: list[tuple[int, dict[str, Any]]] = []
        if self._samples - self._interim_at >= self.options.interim_ms * SAMPLES_PER_SECOND // 1000:
            self._interim_at = self._samples
            hyp = self.decoder.hyp()
            text = hyp.hypstr.strip() if hyp is not None else ""
            if text and text != self._interim:
                self._interim = text
                events.append((INTERIM, {"text": text}))
        if self._samples >= self.options.max_utterance_s * SAMPLES_PER_SECOND:
            final = self.finalize()
            if final["text"]:  # our own endpointing; silence is dropped without a word
                events.append((FINAL, final))
        return events

    def finalize(self) -> dict[str, Any]:
        """Close the utterance. Confidence is the posterior probability of the best path
        through the lattice, per word (its geometric mean over the words): in-domain
        sentences score ~0.15-0.7, out-of-domain speech mostly below 0.2."""
        if not self._in_utterance:
            return {"text": "", "confidence": 0.0}
        self._in_utterance = False
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        text = " ".join(hyp.hypstr.split()) if hyp is not None else ""
        words = len(text.split())
        confidence = 0.0
        if words:
            self.heard_speech = True
            confidence = max(0.0, min(1.0, self.decoder.get_prob())) ** (1 / words)
        return {"text": text, "confidence": round(confidence, 4)}

    def reset(self) -> None:
        if self._in_utterance:
            self._in_utterance = False
            self.decoder.end_utt()


class Worker:
    def __init__(self) -> None:
        import pocketsphinx

        from realtime.stt.language_model import ACOUSTIC_MODEL

        self._ps = pocketsphinx
        self._hmm = str(ACOUSTIC_MODEL)
        self._models: dict[str, Any] = {}  # arpa path → NGramModel, shared by its decoders
        self._idle: dict[tuple[str, str, bool], list[Any]] = {}
        self._channel_mean: dict[tuple[str, str, bool], str] = {}
        self._last_used: dict[tuple[str, str, bool], float] = {}
        self.calls: dict[int, Recognizer] = {}

    def _decoder(self, options: Options) -> Any:
        self._last_used[options.key()] = time.monotonic()
        idle = self._idle.get(options.key())
        if idle:
            decoder = idle.pop()
        else:
            decoder = self._ps.Decoder(
                hmm=self._hmm,
                lm=None,
                dict=options.dictionary,
                samprate=16000,
                fwdflat=options.second_pass,
                bestpath=options.second_pass,
                loglevel="FATAL",
            )
            model = self._models.get(options.arpa)
            if model is None:
                model = self._ps.NGramModel(decoder.config, decoder.get_logmath(), options.arpa)
                self._models[options.arpa] = model
            decoder.add_lm("clinic", model)
            decoder.activate_search("clinic")
        # Start from the channel mean the last call on this model ended with: a telephone
        # line's mean is a far better first guess than the wideband default.
        decoder.set_cmn(self._channel_mean.get(options.key(), decoder.config["cmninit"]))
        return decoder

    def open(self, stream: int, payload: bytes) -> dict[str, Any]:
        options = Options(**json.loads(payload))
        try:
            self.calls[stream] = Recognizer(self._decoder(options), options)
        except (RuntimeError, ValueError) as error:
            return {"error": f"decoder failed to start: {error}"}
        return {"error": None}

    def close(self, stream: int) -> None:
        call = self.calls.pop(stream, None)
        if call is None:
            return
        call.reset()
        key = call.options.key()
        if call.heard_speech:
            self._channel_mean[key] = call.decoder.get_cmn()
        idle = self._idle.setdefault(key, [])
        if len(idle) < IDLE_DECODERS:
            idle.append(call.decoder)
        self._evict()

    def _evict(self) -> None:
        """Forget models no call uses beyond the ``MODELS_KEPT`` most recent: every change to
        a clinic's vocabulary (a new patient) makes a new model, and each costs megabytes."""
        active = {call.options.key() for call in self.calls.values()}
        unused = sorted(
            (k for k in self._last_used if k not in active), key=lambda k: self._last_used[k]
        )
        for key in unused[: max(0, len(self._last_used) - MODELS_KEPT)]:
            del self._last_used[key]
            self._idle.pop(key, None)
            self._channel_mean.pop(key, None)
            if all(k[0] != key[0] for k in self._last_used):
                self._models.pop(key[0], None)  # decoders still using it hold their own ref


def _messages(buffer: bytearray) -> list[tuple[int, int, bytes]]:
    out = []
    offset = 0
    while len(buffer) - offset >= HEADER.size:
        stream, op, size = HEADER.unpack_from(buffer, offset)
        end = offset + HEADER.size + size
        if len(buffer) < end:
            break
        out.append((stream, op, bytes(buffer[offset + HEADER.size : end])))
        offset = end
    del buffer[:offset]
    return out


def serve(read_fd: int, write_fd: int) -> None:
    worker = Worker()
    buffer = bytearray()

    def send(stream: int, op: int, body: dict[str, Any]) -> None:
        data = memoryview(frame(stream, op, json.dumps(body).encode()))
        while data:
            data = data[os.write(write_fd, data) :]

    def decode(stream: int, audio: bytearray | None) -> None:
        call = worker.calls.get(stream)
        if not audio or call is None:
            return
        try:
            events = call.audio(bytes(audio))
        except RuntimeError as error:
            worker.calls.pop(stream, None)
            send(stream, FAILED, {"error": f"decoding failed: {error}"})
            return
        for op, body in events:
            send(stream, op, body)

    while chunk := os.read(read_fd, 1 << 16):
        buffer += chunk
        # Audio that queued up while we were busy is decoded in one call per stream.
        pending: dict[int, bytearray] = {}
        for stream, op, payload in _messages(buffer):
            if op == AUDIO:
                pending.setdefault(stream, bytearray()).extend(payload)
                continue
            decode(stream, pending.pop(stream, None))
            if op == OPEN:
                send(stream, OPENED, worker.open(stream, payload))
            elif op == END and stream in worker.calls:
                send(stream, FINAL, worker.calls[stream].finalize())
            elif op == CLOSE:
                worker.close(stream)
        for stream, audio in pending.items():
            decode(stream, audio)


def main() -> None:
    # The protocol owns the real stdout; anything a library prints goes to stderr instead.
    write_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(0, write_fd)


if __name__ == "__main__":
    main()
