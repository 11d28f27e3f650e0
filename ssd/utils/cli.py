"""What a ``python -m ssd.bin.*`` command does around its work: log lines on stderr, and a data error
reported as one line naming the file, with exit status 1, rather than a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def run_logged(work: Callable[[], None], log: logging.Logger,
               errors: tuple[type[BaseException], ...] = (ValueError, OSError)) -> None:
    """Configure logging, run ``work``, and turn ``errors`` into a logged message and ``SystemExit(1)``."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True, format=LOG_FORMAT)
    try:
        work()
    except errors as e:
        log.error("%s", e)
        raise SystemExit(1) from None
