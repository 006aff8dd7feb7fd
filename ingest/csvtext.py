"""A recorded CSV's bytes with invalid UTF-8 replaced, streamed, for Arrow's text-cell reading.

Arrow refuses a whole file when one cell holds bytes that are not UTF-8 (a garbled SD card
sector, a cut multi-byte character), and a bad row holding such bytes makes it print a traceback
from inside its bad-row handler. Read through ``Utf8Replacing`` such a cell becomes text
with U+FFFD in it, which then fails to parse as a number and is counted like any other bad
cell, and the rest of the file is read. Streams block by block: memory stays bounded.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path


class Utf8Replacing(io.RawIOBase):
    """A binary file-like over ``path`` whose bytes are valid UTF-8 (bad sequences → U+FFFD)."""

    def __init__(self, path: str | Path, chunk: int = 1 << 20) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._chunk = chunk
        self._pending = memoryview(b"")
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._offset >= len(self._pending):
            raw = self._fh.read(self._chunk)
            text = None
            if not self._decoder.getstate()[0]:  # valid UTF-8 (nearly always) passes unchanged
                if raw.isascii():  # far cheaper than decoding, and ASCII is valid UTF-8
                    text = raw
                else:
                    try:
                        raw.decode("utf-8")
                        text = raw
                    except UnicodeDecodeError:
                        text = None
            if text is None:
                text = self._decoder.decode(raw, final=not raw).encode("utf-8")
            self._pending, self._offset = memoryview(text), 0
            if not raw:
                break
        n = min(len(buffer), len(self._pending) - self._offset)
        buffer[:n] = self._pending[self._offset:self._offset + n]
        self._offset += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()
