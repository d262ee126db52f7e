"""Who is calling in the request being served: the token the auth lookup accepted.

The access log (`api.access_log`) opens a slot for each request; accepting a token
fills it (`note`); the access line and the audit records (`api.auth.audit`) read it.
The slot is a mutable object in a context variable, so a token accepted in a task or
thread the request spawned (a copied context) still reaches the access line. Outside
a request (a `fenlei` command) there is no caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from api.auth.tokens import Principal


@dataclass(slots=True)
class Slot:
    """The caller of one request, once known."""

    principal: Principal | None = None


_slot: ContextVar[Slot | None] = ContextVar("fenlei_caller", default=None)


@contextmanager
def request_scope() -> Iterator[Slot]:
    """A fresh slot for the duration of one request."""
    slot = Slot()
    reset = _slot.set(slot)
    try:
        yield slot
    finally:
        _slot.reset(reset)


def note(principal: Principal) -> None:
    """Record that this request acts as `principal`."""
    slot = _slot.get()
    if slot is None:
        # No access log around this request (an app built without it): the audit
        # records of this request still name their caller.
        _slot.set(Slot(principal))
    else:
        slot.principal = principal


def current() -> Principal | None:
    """The caller of the request being served, or None outside one."""
    slot = _slot.get()
    return slot.principal if slot is not None else None
