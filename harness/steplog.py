"""A step's output, streamed: bytes to the log file as they come, lines to the tail and
the progress display.

Linear in the output whatever its line lengths (a 40 MB line without a newline is one
pass, not a buffer grown and split again for every chunk), and memory is bounded: a line
is kept up to :data:`MAX_LINE_BYTES` for the tail and the display (the rest of it still
goes to the log file). The log file holds everything up to ``max_log_bytes``; past that
it says where it was cut, and the step's outcome is unchanged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import BinaryIO

#: what a line keeps for the tail and the display
MAX_LINE_BYTES = 16 << 10
#: the most a step's log file holds
MAX_LOG_BYTES = 1 << 30


class StepLog:
    def __init__(
        self,
        log: BinaryIO | None,
        tail: deque[str],
        on_line: Callable[[str], None] | None = None,
        max_log_bytes: int = MAX_LOG_BYTES,
    ) -> None:
        self.log, self.tail, self.on_line = log, tail, on_line
        self.max_log_bytes = max_log_bytes
        self.written = 0
        self.cut = False
        self._line = bytearray()
        self._line_cut = False

    def feed(self, chunk: bytes) -> None:
        self._append(chunk)
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            self._add(chunk[start:end])
            self._emit()
            start = end + 1
        self._add(chunk[start:])

    def close(self) -> None:
        """The last line, if the output did not end with a newline."""
        if self._line or self._line_cut:
            self._emit()
            self._append(b"\n")
        if self.log is not None:
            self.log.flush()

    def note(self, text: str) -> None:
        """A line of the harness's own in the log (past the cap too)."""
        if self.log is not None:
            self.log.write(f"[harness] {text}\n".encode())
            self.log.flush()

    def _append(self, data: bytes) -> None:
        if self.log is None or not data:
            return
        room = self.max_log_bytes - self.written
        if room <= 0:
            return
        if len(data) > room:
            self.log.write(data[:room])
            self.written += room
            self.cut = True
            self.log.write(b"\n")
            self.note(
                f"log cut at {self.max_log_bytes} bytes; the step went on (its outcome is "
                "unchanged)"
            )
            return
        self.log.write(data)
        self.written += len(data)
        self.log.flush()

    def _add(self, piece: bytes) -> None:
        room = MAX_LINE_BYTES - len(self._line)
        if len(piece) > room:
            self._line += piece[: max(room, 0)]
            self._line_cut = True
        else:
            self._line += piece

    def _emit(self) -> None:
        line = self._line.decode("utf-8", "replace").rstrip("\r")
        if self._line_cut:
            line += " […line cut]"
        self._line.clear()
        self._line_cut = False
        self.tail.append(line)
        if self.on_line is not None:
            self.on_line(line)
