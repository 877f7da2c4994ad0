"""cadenza's log events in a test, as `structlog.testing.capture_logs` gave them.

cadenza logs through standard-library loggers (`cadenza._log`), so structlog's
own `capture_logs` (which swaps structlog's global processors) no longer sees
its events. This one listens where an application would: a handler on the
`cadenza` logger, which is lowered to `level` for the block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Collect(logging.Handler):
    def __init__(self, into: list[dict[str, Any]]):
        super().__init__(logging.NOTSET)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        event = dict(record.msg) if isinstance(record.msg, dict) else {"event": record.getMessage()}
        event.pop("level", None)
        event.pop("logger", None)
        event["log_level"] = record.levelname.lower()
        self.into.append(event)


@contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[list[dict[str, Any]]]:
    """The events logged under `cadenza` inside the block: `event`, `log_level` and the keys."""
    logs: list[dict[str, Any]] = []
    logger = logging.getLogger("cadenza")
    handler = _Collect(logs)
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield logs
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
