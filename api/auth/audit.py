"""The audit log of changes people make: one structured record per change, logger
"fenlei.audit" (which `fenlei.logs` keeps at INFO).

Who: the token of the API request being served (`api.auth.caller`), or, outside a
request, the local user running a `fenlei` command. What: `audit` names the change,
the other fields say to what. When: the record's own time. Never a secret: callers
pass ids, counts and names of things, never a token, a hash or a calendar key.
"""

from __future__ import annotations

import getpass
import logging

from api.auth import caller

log = logging.getLogger("fenlei.audit")
# Attributes a LogRecord has of its own: an extra field with one of these names
# would raise, so a change is described with other words ("rows", not "created").
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a bare container: the record still counts
        return "unknown"


def who() -> dict[str, object]:
    """The fields that say who made a change."""
    principal = caller.current()
    if principal is None:
        return {"component": "cli", "token_id": None, "token_name": None, "user": _local_user()}
    return {"component": "api", "token_id": principal.token_id, "token_name": principal.name}


def record(action: str, message: str, /, **fields: object) -> None:
    """Log one change: `action` (e.g. "token_rotated"), a sentence, and its fields."""
    clash = sorted(_RESERVED.intersection(fields))
    if clash:
        raise ValueError(f"audit fields {clash} are LogRecord attributes; rename them")
    actor = who()
    if actor["token_id"] is not None:
        by = f"token {actor['token_id']} ({actor['token_name']})"
    else:
        by = f"{actor['user']} on the command line"
    log.info("%s (by %s)", message, by, extra={**actor, "audit": action, **fields})
