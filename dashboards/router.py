"""The dashboards' routes, one module per page; mount with `app.include_router(router)`."""

from __future__ import annotations

from fastapi import APIRouter

from dashboards import (
    alarm_banner,
    committee_roster,
    committee_volunteers,
    disclosure,
    district,
    forecast_page,
    overview,
    reports,
    signin,
    static,
)

router = APIRouter(tags=["dashboards"])
router.include_router(forecast_page.router)
for _page in (
    static,
    signin,
    overview,
    district,
    disclosure,
    committee_volunteers,
    committee_roster,
    reports,
    alarm_banner,
):
    router.include_router(_page.router)
