"""Structured logging: one JSON object per line, with the event's ids where the caller gives them."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Attributes a caller may pass with `extra=` that belong in the JSON line.
CONTEXT_FIELDS = ("event_id", "event_type", "tenant_id", "entity_type", "entity_id", "status", "reason")
# Libraries logged at WARNING at most: their INFO is noise, and their DEBUG dumps whole AMQP frames,
# message bodies included.
QUIET_LOGGERS = ("aio_pika", "aiormq", "aiohttp.access")
# Built once: `json.dumps` with any non-default option builds a new encoder for every line.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The JSON line shows none of the thread, process or multiprocessing names: not looking them up
    # saves every record a few system calls' worth of work.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Library chatter at INFO (connection attempts, access lines) is noise next to event outcomes.
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


class _CommandFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"sevsync: {record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def configure_command_logging(level: str) -> None:
    """Logging for a command other than the worker: what it did is what it prints, so its INFO
    records would only repeat that, and library records (a client reconnecting, an event loop
    closing) would follow its one error line. Only sevsync's own warnings and errors are shown, one
    plain line each. At DEBUG everything is logged as the worker logs it, for finding out why."""
    if logging.getLevelName(level) <= logging.DEBUG:
        configure_logging(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_CommandFormatter())
    handler.addFilter(logging.Filter("sevsync"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelName(level)))
