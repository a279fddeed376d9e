"""Logging set-up: plain text for people, one JSON object per line for log pipelines."""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

from jetgen.runtime import redaction


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # kopf's per-object loggers tell which object a line is about.
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            out["object"] = {k: ref.get(k) for k in ("kind", "namespace", "name") if ref.get(k)}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class _QuietWakeups(logging.Filter):
    """kopf reports every run of a watch-event handler: of the tiny one that wakes a
    reconcile loop (one line per object change would drown everything else) and of the one
    that follows CRDs for safe-start (which logs what it changes itself)."""

    QUIET = ("Handler 'wake' succeeded", "Handler 'safe-start' succeeded")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.QUIET)


def setup(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_QuietWakeups())
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    redaction.install()
    # aiohttp's access log and asyncio debug chatter add nothing at INFO.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
