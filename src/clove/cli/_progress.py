"""A one-line progress report on stderr (count and rate), for imports and exports."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator

# Redraw at most this often (seconds): drawing is cheap, but not free per relationship.
_REDRAW_EVERY = 0.2


class Progress:
    """Counts items and redraws ``<verb> N relationships (R/s)`` on stderr while enabled."""

    def __init__(self, verb: str, *, enabled: bool) -> None:
        self._verb = verb
        self._enabled = enabled
        self._count = 0
        self._started = time.monotonic()
        self._drawn_at = self._started

    @property
    def count(self) -> int:
        return self._count

    def advance(self) -> None:
        self._count += 1
        if self._enabled and not self._count % 1024:
            now = time.monotonic()
            if now - self._drawn_at >= _REDRAW_EVERY:
                self._drawn_at = now
                self._draw(now, end="")

    def finish(self) -> None:
        if self._enabled:
            self._draw(time.monotonic(), end="\n")

    def _draw(self, now: float, *, end: str) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self._count / elapsed
        line = f"\r{self._verb} {self._count:,} relationships ({rate:,.0f}/s, {elapsed:.1f}s)"
        print(line, end=end, file=sys.stderr, flush=True)


def relationship_lines(source: Iterable[str], progress: Progress) -> Iterator[str]:
    """The relationships of a file in SpiceDB syntax, one per line.

    Blank lines and comment lines (``//`` or ``#``) are skipped, so error messages count rows
    (relationships), not lines, when a file has them.
    """
    for line in source:
        text = line.strip()
        if text and not text.startswith(("//", "#")):
            progress.advance()
            yield text
