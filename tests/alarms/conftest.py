"""The app on a settable clock with estate jjq (rooms r1, r2) and an admin token: the
volunteer tests' fixtures, reused."""

from tests.volunteers.conftest import admin, client, clock, estate, served

__all__ = ["admin", "client", "clock", "estate", "served"]
