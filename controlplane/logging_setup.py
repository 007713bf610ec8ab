"""The control plane's one log format: text lines by default, or one JSON object per line.

Every record goes through one handler on the root logger to standard error, uvicorn's and Alembic's
included. A record logged while an API request is served carries that request's id (`request_id`),
set by the API's middleware (controlplane/api/request_id.py) in `current_request_id`.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

from controlplane.settings import LogFormat

# Each request runs in a task of its own and sync routes in threads that copy the task's context, so a
# request's id is seen by everything logged on its behalf and by nothing else.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: LogFormat, level: int) -> None:
    """Send every log record to standard error in `log_format`, from `level` up; replaces earlier handlers."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(_JsonFormatter() if log_format == "json" else _TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Alembic tells at INFO which migration context it uses at every start: noise once the catalog is current.
    logging.getLogger("alembic").setLevel(logging.WARNING)
