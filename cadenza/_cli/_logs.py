"""The CLI's logging: cadenza's events to stderr, key-value lines or JSON (`--log-json`).

The CLI is an application, so it (and only it) configures logging.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection
from typing import Any

import structlog


def configure(json_logs: bool, level: str, hidden: Collection[str] = ()) -> None:
    """cadenza's events at `level` and above to stderr, rendered by structlog.

    One handler on the `cadenza` logger (replaced, not added, when `main` runs
    again in one process); the root logger is left alone. The events named in
    `hidden` are not printed (the demo's workers fail on purpose, its summary
    counts the retries: a warning and a traceback each read as a crash).
    """

    renderer: Any = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("cadenza.cli")
    if hidden:  # a filter, not a processor: structlog's DropEvent is a BaseException
        handler.addFilter(lambda record: _event_name(record) not in hidden)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.TimeStamper(fmt="iso"),
                renderer,
            ],
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name],
        )
    )
    logger = logging.getLogger("cadenza")
    for old in [h for h in logger.handlers if h.get_name() == "cadenza.cli"]:
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def _event_name(record: logging.LogRecord) -> object:
    """The structlog event a record carries (`cadenza._log` puts the event dict in `msg`)."""
    return record.msg.get("event") if isinstance(record.msg, dict) else None
