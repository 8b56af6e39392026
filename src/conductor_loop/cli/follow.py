"""Printing a run's agent output while it runs: rendered as a transcript, or raw.

Imported only by ``-f``/``--follow``, so that ``run-agent job`` starts fast without it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from conductor_loop.cli.transcript import TranscriptRenderer, colour_wanted
from conductor_loop.storage.tail import follow_bytes


class LinePrinter:
    """Writes agent stdout to our stdout: each line rendered, or as it is with ``raw``."""

    def __init__(self, *, raw: bool = False) -> None:
        self.raw = raw
        self.renderer = TranscriptRenderer(colour=colour_wanted(sys.stdout))
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        if self.raw:
            self._write_bytes(chunk)
            return
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            self._write(self.renderer.feed(line.decode("utf-8", errors="replace")))

    def finish(self) -> None:
        """The run has ended: the last partial line, then the answer and usage."""
        if self.raw:
            return
        if self._partial:
            self._write(self.renderer.feed(self._partial.decode("utf-8", errors="replace")))
            self._partial = b""
        self._write(self.renderer.finish())

    @staticmethod
    def _write(lines: Iterable[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        if text:
            LinePrinter._write_bytes(text.encode("utf-8", errors="replace"))

    @staticmethod
    def _write_bytes(data: bytes) -> None:
        with contextlib.suppress(OSError):  # a closed pipe must not end the run
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()


def print_line(line: str) -> None:
    """A line of our own (a run header) among the transcript lines on stdout."""
    LinePrinter._write([line])


class RunFollower:
    """Follows one run's ``agent-stdout.txt`` in a thread until ``stop`` is called."""

    def __init__(self, stdout_path: Path, *, raw: bool = False) -> None:
        self._done = threading.Event()
        self._printer = LinePrinter(raw=raw)
        self._path = stdout_path
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for chunk in follow_bytes(self._path, self._done, safety_interval=0.5):
            self._printer.feed(chunk)
        self._printer.finish()

    def stop(self, timeout: float = 5) -> None:
        """The run has ended: print the rest of its output, and its summary."""
        self._done.set()
        self._thread.join(timeout=timeout)
