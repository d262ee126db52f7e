"""Volunteers who watch the refuse rooms: rosters, check-in, inspections, swaps.

The routes are `api.volunteers.router.router`; the phone pages are
`dashboards.volunteer_pages.pages_router`.
"""
