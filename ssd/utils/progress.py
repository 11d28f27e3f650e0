"""Progress of long loops as periodic log lines: they read well in queue log files, unlike bars."""

from __future__ import annotations

import logging
import time


class Progress:
    """Log ``desc: done/total (pct), rate, ETA`` at most every ``interval`` seconds, and at the end."""

    def __init__(self, total: int, desc: str, logger: logging.Logger, unit: str = "utt",
                 interval: float = 30.0, enabled: bool = True) -> None:
        self.total = total
        self.desc = desc
        self.logger = logger
        self.unit = unit
        self.interval = interval
        self.enabled = enabled
        self.done = 0
        self.start = time.perf_counter()
        self.last = self.start

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items; log when the interval has passed or the loop is complete."""
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self.last >= self.interval or self.done >= self.total):
            self.last = now
            elapsed = max(now - self.start, 1e-9)
            rate = self.done / elapsed
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            self.logger.info("%s: %d/%d %s (%.0f%%), %.1f %s/s, elapsed %.0fs, ETA %.0fs", self.desc,
                             self.done, self.total, self.unit, 100.0 * self.done / max(self.total, 1),
                             rate, self.unit, elapsed, eta)
