"""Keep secret values out of everything people read: logs, events, conditions, status.

Every secret value the runtime handles -- credentials, values of Secret references,
sensitive attributes of the state -- is registered here as it is read (through
:class:`jetgen.runtime.resource.Redactor`).  :class:`LogFilter` then masks them in every log
record, whoever wrote it: our modules, kopf, provider stderr relayed by tfplugin.process,
provider warnings from tfplugin.client.  A value seen once stays masked for the life of the
process, so a message about one object cannot leak another object's secret either.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import traceback

MASK = "[redacted]"
MIN_LENGTH = 4  # shorter values would blank out ordinary words; not worth hiding


class Registry:
    """The set of secret values seen by this process (the newest ``limit`` of them)."""

    def __init__(self, limit: int = 20_000):
        self.limit = limit
        self._values: dict[str, None] = {}  # ordered: oldest first
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()  # log records may come from other threads

    def add(self, value: str | None) -> None:
        if not value or len(value) < MIN_LENGTH:
            return
        with self._lock:
            for form in _forms(value):
                if form in self._values:
                    continue
                self._values[form] = None
                self._pattern = None
            while len(self._values) > self.limit:
                del self._values[next(iter(self._values))]

    def __call__(self, text: str) -> str:
        if not self._values or not text:
            return text
        with self._lock:
            if self._pattern is None:
                # Longest first, so a value containing another is masked whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            pattern = self._pattern
        return pattern.sub(MASK, text)


def _forms(value: str) -> list[str]:
    """The shapes a value takes in text people read: as is, base64 (Secret data), escaped
    inside a JSON string (Terraform quotes configuration lines in its diagnostics; Go
    also escapes ``<``, ``>`` and ``&``), and, for a multi-line value such as a PEM key,
    each of its longer lines (a diagnostic may quote one line of it)."""
    quoted = json.dumps(value)[1:-1]
    go_quoted = quoted.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    forms = [value, base64.b64encode(value.encode()).decode(), quoted, go_quoted]
    if "\n" in value:
        forms += [line.strip() for line in value.splitlines() if len(line.strip()) >= 8]
    return forms


REGISTRY = Registry()


class LogFilter(logging.Filter):
    """Masks registered secret values in a record's message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = REGISTRY(message), None
        return True


def install() -> None:
    """Mask every log line of this process: on the root handlers, and on kopf's object
    logger, whose records kopf also posts as Kubernetes events."""
    log_filter = LogFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(log_filter)
    logging.getLogger("kopf.objects").addFilter(log_filter)
