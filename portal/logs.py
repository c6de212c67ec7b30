"""Log lines as JSON (PORTAL_LOG_FORMAT=json) or text, each carrying its request id.

The request id is the one the audit context holds (portal/audit/middleware.py sets it for a
request; a worker sets the id of the request that created the job it runs), so a log line, the
audit entries and the build's job can be joined on it.
"""

import logging

import orjson

from portal.audit import context


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or "") to every record; filters nothing out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = context.current().request_id
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, with `[request_id]` after the level inside a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", "")
        if request_id:
            head, sep, rest = text.partition(f" {record.levelname} ")
            if sep:
                return f"{head} {record.levelname} [{request_id}] {rest}"
        return text


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := getattr(record, "request_id", ""):
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()
