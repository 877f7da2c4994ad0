"""The CLI's logging: cadenza's events to stderr, key-value lines or JSON (`--log-json`).

The CLI is an application, so it (and only it) configures logging.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection, MutableMapping
from typing import Any

import structlog


def configure(json_logs: bool, level: str, untraced: Collection[str] = ()) -> None:
    """cadenza's events at `level` and above to stderr, rendered by structlog.

    One handler on the `cadenza` logger (replaced, not added, when `main` runs
    again in one process); the root logger is left alone. The events named in
    `untraced` print on one line, without the traceback they carry (the demo's
    workers fail on purpose: a traceback there reads as a crash).
    """

    def drop_traceback(
        _logger: Any, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if event.get("event") in untraced:
            event.pop("exception", None)
        return event

    renderer: Any = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("cadenza.cli")
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                drop_traceback,
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
