"""The volunteers who watch the refuse rooms: their records and whose token acts as whom;
their one-time sign-in links (`signin_links`, SQL in `signin_repository`); availability
in words (`availability_text`) and a record from a form's or a sheet's texts
(`form_input`, `sheet`), which the committee's pages use.

The rest of volunteering lives in one package per noun, each with the same roles
(`schemas.py`, `repository.py` for its SQL, `service.py` for its rules):
`api.roster` (watch slots, roster generation, watch coverage), `api.shifts` (shifts,
on-duty, check-in/out), `api.inspections` (inspections, sorting accuracy),
`api.swaps` and `api.calendar` (the ICS feed). Their routes are in `api.routes`
(`api.routes.volunteers.router` includes them all); the phone pages are
`dashboards.volunteer_pages.pages_router`.
"""
