"""Logs as hclog JSON lines on stderr, which Terraform's plugin client reads and re-logs.

Levels follow TF_LOG_PROVIDER, else TF_LOG (TRACE, DEBUG, INFO, WARN, ERROR, OFF; JSON means TRACE).
Every line logged while an RPC runs carries that RPC's fields (`tf_rpc`, `tf_req_id`, ...), as
terraform-plugin-go writes them: `call_fields` holds them for the thread running the call.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Mapping

TRACE = 5
_LEVEL_NAMES = {
    TRACE: "trace",
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}
# Chatter of the libraries under the provider: per-header HPACK decoding, per-connection HTTP steps.
_TRANSPORT_LOGGERS = ("hpack", "httpcore")

call_fields: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("call_fields", default=None)

_ENV_LEVELS = {
    "TRACE": TRACE,
    "JSON": TRACE,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "OFF": logging.CRITICAL + 10,
}


class HclogFormatter(logging.Formatter):
    """One JSON object a line: @level, @message, @timestamp (hclog's layout), @module."""

    def __init__(self, module: str) -> None:
        super().__init__()
        self._module = module

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.gmtime(record.created)
        micros = int((record.created % 1) * 1_000_000)
        entry: dict[str, object] = {
            "@level": _level_name(record.levelno),
            "@message": record.getMessage(),
            "@module": f"{self._module}.{record.name}" if record.name != "root" else self._module,
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{micros:06d}Z",
        }
        fields = call_fields.get()
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        import json  # here: a launch that logs nothing need not import it

        return json.dumps(entry, default=str)


def level_from_environment(environ: Mapping[str, str]) -> int:
    name = (environ.get("TF_LOG_PROVIDER") or environ.get("TF_LOG") or "WARN").strip().upper()
    return _ENV_LEVELS.get(name, logging.WARNING)


def configure(environ: Mapping[str, str], module: str) -> None:
    """Route every logger of the process to stderr in hclog's JSON form."""
    logging.addLevelName(TRACE, "TRACE")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HclogFormatter(module))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_from_environment(environ))
    for name in _TRANSPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def _level_name(levelno: int) -> str:
    for threshold in sorted(_LEVEL_NAMES, reverse=True):
        if levelno >= threshold:
            return _LEVEL_NAMES[threshold]
    return "trace"
