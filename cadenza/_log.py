"""cadenza's loggers: structlog events through named standard-library loggers.

A library does not configure logging; the application does. cadenza calls
neither `structlog.configure` nor `logging.basicConfig` and adds no handler,
not even the `NullHandler` the standard library suggests for libraries: that
handler would count as "configured" and hide cadenza's warnings from an
application that configures nothing. Such an application sees WARNING and
above on stderr (the standard library's last resort) and nothing below.

Each package logs through its own logger under `cadenza` (`cadenza.engine`,
`cadenza.dispatch`, `cadenza.actors`, `cadenza.persistence`,
`cadenza.runtime`, ...), so `logging.getLogger("cadenza").setLevel(...)`
or a handler on `cadenza.dispatch` works as for any library.

Events stay structlog's, a verb and key-values
(`log.info("run.finished", run_id=..., status=...)`), and each becomes one
`logging.LogRecord`:

- `record.getMessage()` reads `run.finished run_id=... status=...`, so a
  plain `logging.basicConfig()` prints a readable line;
- `record.msg` is the event dict itself (with `level` and `logger`), and the
  record carries the markers of `ProcessorFormatter.wrap_for_formatter`, so
  an application formatting with structlog's `ProcessorFormatter` renders
  the event's keys its own way (JSON, console);
- `exc_info` goes on the record for the handler to format (and, as the
  event's `exception`, to a `ProcessorFormatter`);
- the record's file, line and function are the caller's, not structlog's.

A level that is disabled costs one `Logger.isEnabledFor` (cached by the
standard library) before any event dict is built: the engine logs on hot
paths.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Any

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
_NOT_RENDERED = frozenset({"event", "level", "logger", "exception"})  # the record has them
_STRUCTLOG_STDLIB = structlog.stdlib.__file__


class _Event(dict[str, Any]):
    """An event dict that prints as `event key=value ...`: the record's message."""

    __slots__ = ()

    def __str__(self) -> str:
        parts = [str(self.get("event"))]
        parts.extend(f"{k}={_value(v)}" for k, v in self.items() if k not in _NOT_RENDERED)
        return " ".join(parts)


def _value(value: Any) -> str:
    if isinstance(value, str):
        if value and not any(c.isspace() or c in '="' for c in value):
            return value
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _to_record(
    logger: Any, method_name: str, event_dict: structlog.typing.EventDict
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The last processor: the event as `logging.Logger.<method>`'s arguments."""
    kwargs: dict[str, Any] = {"extra": {"_logger": logger, "_name": method_name}}
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        elif not isinstance(exc_info, tuple):
            exc_info = sys.exc_info()
        if exc_info[0] is not None:
            kwargs["exc_info"] = exc_info
            event_dict["exception"] = "".join(traceback.format_exception(*exc_info)).rstrip()
    if event_dict.pop("stack_info", False):
        kwargs["stack_info"] = True
    return (_Event(event_dict),), kwargs


_PROCESSORS = (structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name, _to_record)


class _Logger(structlog.stdlib.BoundLogger):
    """structlog's stdlib bound logger, checking the level before doing any work."""

    def _proxy_to_logger(
        self, method_name: str, event: str | None = None, *event_args: Any, **event_kw: Any
    ) -> Any:
        logger: logging.Logger = self._logger
        if not logger.isEnabledFor(_LEVELS.get(method_name, logging.CRITICAL)):
            return None
        if event_args:
            event_kw["positional_args"] = event_args
        try:
            args, kwargs = self._process_event(method_name, event, event_kw)
        except structlog.DropEvent:
            return None
        # The caller's frame for the record: this one (1), structlog's public method, the caller.
        frame, depth = sys._getframe(1), 2
        while frame.f_back is not None and frame.f_code.co_filename == _STRUCTLOG_STDLIB:
            frame, depth = frame.f_back, depth + 1
        return getattr(logger, method_name)(*args, stacklevel=depth, **kwargs)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger writing to `logging.getLogger(name)`; `name` starts with `cadenza`."""
    return _Logger(logging.getLogger(name), processors=_PROCESSORS, context={})
