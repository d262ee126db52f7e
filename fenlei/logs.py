"""Logging set up once per entry point: quiet by default, JSON lines on request."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields become keys, for machines to read."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure(verbose: bool = False) -> None:
    """Configure the root logger from FENLEI_LOG_LEVEL / FENLEI_LOG_FORMAT (text|json)."""
    level = os.environ.get("FENLEI_LOG_LEVEL", "DEBUG" if verbose else "WARNING").upper()
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("FENLEI_LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # fenlei's own summary lines (INFO) stay visible when the root is at WARNING.
    logging.getLogger("fenlei.summary").setLevel(min(logging.INFO, root.level))
    # So does the audit log: who changed the registry, and how far back (never secrets).
    logging.getLogger("fenlei.audit").setLevel(min(logging.INFO, root.level))
    # And the access log: one line per request, never a secret (api.access_log).
    logging.getLogger("fenlei.access").setLevel(min(logging.INFO, root.level))
