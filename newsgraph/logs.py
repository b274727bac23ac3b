"""`newsgraph serve`'s log: one JSON object a line on stderr (docs/operations.md).

Each line has `time` (ISO 8601, UTC), `level`, `logger`, `message`, `pid`, and, for an internal
failure logged with its exception, `error` (type and message) and `traceback`. A client's
mistake is never logged with a traceback: the app answers those without logging them, and
the few uvicorn logs with one (a request that is not HTTP, a WebSocket frame that is not
UTF-8) keep only `error`.

The stdlib's `logging` with this small formatter, not a library: the fields are fixed, and a
formatter is 30 lines where a dependency is one more package in every process.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import os
from typing import Any

# uvicorn's messages about a client that sent something other than HTTP or valid frames:
# logged by uvicorn with a traceback, though the client's mistake is all there is to know.
CLIENT_MISTAKES = (
    "Invalid HTTP request received.",
    "Invalid UTF-8 sequence received from client.",
)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message.strip(),
            "pid": record.process or os.getpid(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = f"{type(error).__name__}: {error}"
            if message.strip() not in CLIENT_MISTAKES:
                line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def config(level: str = "warning") -> dict[str, Any]:
    """A `logging.config.dictConfig` for a process of `newsgraph serve` (also uvicorn's
    `log_config`): every logger through one JSON handler on stderr, at `level`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # uvicorn's loggers otherwise keep handlers of their own (plain text)
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure(level: str = "warning") -> None:
    """Log as `config` says, in this process."""
    logging.config.dictConfig(config(level))
