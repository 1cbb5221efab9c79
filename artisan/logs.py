"""Log lines as text or as one JSON object each (``ARTISAN_LOG_FORMAT``), and the execution trail.

A JSON line carries the time (UTC, ISO 8601), level, logger, message, every field a call gave
in ``extra`` (so a field is a key a log store can index, not words in the message), and the
traceback if any. ``EXECUTIONS`` is the logger of the trail an execution leaves, each line with
its ``execution_id`` (the request's EIP-712 digest, 0x-hex): the executor when it accepts the
HTTP request, the emitter when its batch is final on chain (with ``tx_hash`` and
``log_index``), the executions projection when it writes its row. Following one execution is
one filter on that field. The trail is a line per execution, so it is off unless asked for
(``ARTISAN_LOG_EXECUTIONS``): the hot paths then pay one level check. ``LastError`` keeps a
service's newest error line for its heartbeat.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

EXECUTIONS = "artisan.executions"

# What every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
HANDLER_NAME = "artisan"
# Libraries that log at INFO on every call (each scheduled run, each HTTP request to the node):
# kept to their warnings.
QUIET = ("apscheduler", "httpx", "httpcore")


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (as logging's last-resort
    handler does): a progress bar that wraps stderr, or a test runner that swaps it, gets the
    line, never a stream closed since."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(
    fmt: str = "text", *, level: int = logging.INFO, executions: bool = False
) -> logging.Handler:
    """Send the process's log records to stderr as ``fmt`` (text or json), at ``level``; the
    execution trail only with ``executions``. A long-running command calls it at its start;
    calling it again replaces the handler it installed (and no other); the handler."""
    handler = _Stderr()
    handler.name = HANDLER_NAME
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.name == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger(EXECUTIONS).setLevel(logging.INFO if executions else logging.WARNING)
    return handler


class LastError(logging.Handler):
    """Keeps the newest line logged at ERROR or above under ``logger`` (its children
    included): what a service's heartbeat reports as its last error when the service has no
    tally of its own (the executor, the API). ``close`` detaches it."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.ERROR)
        self.message: str | None = None
        self._logger = logging.getLogger(logger)
        self._logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        lines = record.getMessage().strip().splitlines()
        self.message = f"{record.name}: {lines[0] if lines else record.levelname}"

    def close(self) -> None:
        self._logger.removeHandler(self)
        super().close()
