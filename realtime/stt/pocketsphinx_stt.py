"""Offline streaming recognition with pocketsphinx and a clinic-specific language model.

``PocketsphinxSTT`` builds (or loads from its cache) the clinic's trigram model once per
vocabulary, then decodes calls in worker processes (``sphinx_worker``): pocketsphinx holds the
GIL while decoding, which in a thread would stall the event loop for the ~80 ms an utterance
takes to finalise. Within a worker the n-gram model is loaded once and shared by all decoders
of that clinic, and decoders are reused across calls. ``push`` only queues bytes on the
worker's pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path

from realtime.stt import language_model, sphinx_worker
from realtime.stt.protocol import ResultQueue, Transcript, Vocabulary, drain_results

_ROOT = Path(__file__).resolve().parents[2]
OPEN_TIMEOUT_S = 30.0


class SttError(RuntimeError):
    """The recogniser failed (worker crashed, model did not load)."""


def default_cache_dir() -> Path:
    from core.settings import Settings

    return Settings().cache_dir / "stt"


class _Worker:
    """One decoding process and the streams it serves."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.streams: dict[int, PocketsphinxStream] = {}
        self.reader = asyncio.create_task(self._read(), name="sphinx-worker-reader")

    @classmethod
    async def start(cls) -> _Worker:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "realtime.stt.sphinx_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(process)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and not self.reader.done()

    def send(self, stream: int, op: int, payload: bytes = b"") -> None:
        assert self.process.stdin is not None
        if not self.process.stdin.is_closing():
            self.process.stdin.write(sphinx_worker.frame(stream, op, payload))

    async def _read(self) -> None:
        assert self.process.stdout is not None
        header = sphinx_worker.HEADER
        try:
            while True:
                raw = await self.process.stdout.readexactly(header.size)
                stream_id, op, size = header.unpack(raw)
                body = json.loads(await self.process.stdout.readexactly(size))
                stream = self.streams.get(stream_id)
                if stream is not None:
                    stream._deliver(op, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for stream in list(self.streams.values()):
                stream._fail(SttError("the pocketsphinx worker exited"))
            self.streams.clear()

    async def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 2)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class PocketsphinxStream:
    """One call's recognition stream (see ``SttStream``)."""

    def __init__(self, worker: _Worker, stream_id: int) -> None:
        self._worker = worker
        self._id = stream_id
        self._results: ResultQueue = asyncio.Queue()
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = False

    async def push(self, ulaw: bytes) -> None:
        if not self._closed and ulaw:
            self._worker.send(self._id, sphinx_worker.AUDIO, ulaw)

    async def end_of_speech(self) -> None:
        if not self._closed:
            self._worker.send(self._id, sphinx_worker.END)

    def transcripts(self) -> AsyncIterator[Transcript]:
        return drain_results(self._results)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._worker.send(self._id, sphinx_worker.CLOSE)
        self._worker.streams.pop(self._id, None)
        self._results.put_nowait(None)

    def _deliver(self, op: int, body: dict[str, object]) -> None:
        if op == sphinx_worker.OPENED and not self._opened.done():
            if body.get("error") is None:
                self._opened.set_result(None)
            else:
                self._opened.set_exception(SttError(str(body["error"])))
        elif op in (sphinx_worker.INTERIM, sphinx_worker.FINAL) and not self._closed:
            final = op == sphinx_worker.FINAL
            confidence = float(str(body.get("confidence", 0.0))) if final else 0.0
            self._results.put_nowait(Transcript(str(body["text"]), final, confidence))
        elif op == sphinx_worker.FAILED:
            self._fail(SttError(str(body.get("error"))))

    def _fail(self, error: SttError) -> None:
        if not self._opened.done():
            self._opened.set_exception(error)
        if not self._closed:
            self._closed = True
            self._results.put_nowait(error)


class PocketsphinxSTT:
    """``SpeechToText`` with pocketsphinx; models cached in ``cache_dir`` (contains PHI).

    ``second_pass=False`` skips pocketsphinx's flat-lexicon and best-path passes: an utterance
    then finalises in ~1 ms instead of ~50-80 ms, with a few more word errors.
    Interim transcripts carry confidence 0 (pocketsphinx scores only complete utterances).
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        workers: int | None = None,
        second_pass: bool = True,
        interim_ms: int = 200,
        max_utterance_s: float = 30.0,
    ) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        # Processes start as concurrent calls need them (one core each at most).
        self.max_workers = max(1, workers or min(4, os.cpu_count() or 1))
        self.second_pass = second_pass
        self.interim_ms = interim_ms
        self.max_utterance_s = max_utterance_s
        self._models: dict[str, asyncio.Task[language_model.LanguageModel]] = {}
        self._workers: list[_Worker] = []
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def prepare(self, vocabulary: Vocabulary) -> language_model.LanguageModel:
        """Build or load the clinic's model (seconds the first time); safe to call repeatedly."""
        key = language_model.cache_key(vocabulary)
        task = self._models.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(
                asyncio.to_thread(language_model.build, vocabulary, self.cache_dir)
            )
            self._models[key] = task
        return await asyncio.shield(task)

    async def open(self, vocabulary: Vocabulary) -> PocketsphinxStream:
        model = await self.prepare(vocabulary)
        worker = await self._worker()
        stream = PocketsphinxStream(worker, next(self._ids))
        worker.streams[stream._id] = stream
        options = sphinx_worker.Options(
            str(model.arpa),
            str(model.dictionary),
            self.second_pass,
            self.interim_ms,
            self.max_utterance_s,
        )
        worker.send(stream._id, sphinx_worker.OPEN, json.dumps(asdict(options)).encode())
        try:
            await asyncio.wait_for(stream._opened, OPEN_TIMEOUT_S)
        except TimeoutError:
            await stream.aclose()
            raise SttError("the pocketsphinx worker did not open the stream") from None
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def _worker(self) -> _Worker:
        async with self._lock:
            self._workers = [w for w in self._workers if w.alive]
            idle = min(self._workers, key=lambda w: len(w.streams), default=None)
            if idle is None or (idle.streams and len(self._workers) < self.max_workers):
                idle = await _Worker.start()
                self._workers.append(idle)
            return idle

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.alive]

    async def aclose(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            await worker.stop()
