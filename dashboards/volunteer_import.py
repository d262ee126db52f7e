"""The committee's volunteer import: an Excel (.xlsx) or CSV sheet, all rows or none.

The upload is refused from its Content-Length when it is larger than a sheet may be,
then bounded and read exactly as the household import reads its sheets
(`api.volunteers.sheet`, which uses `api.registry.sheet`'s bounded reader). Every row
is checked before anything is stored; when one is wrong nothing is stored and every
problem is listed (line, column, reason in the page's language). The volunteers of a
good sheet are stored in one transaction, each with a token (as the API registers
them), and the import is audited.
"""

from __future__ import annotations

import tempfile
from html import escape
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth import audit
from api.deps import ConnDep, EstatePath
from api.errors import Invalid, TooLarge
from api.registry.sheet import SheetLimits
from api.volunteers import repository as repo
from api.volunteers import service, sheet
from api.volunteers.sheet import RowError
from dashboards import common, layout, volunteer_form
from dashboards.committee_page import committee_page

router = APIRouter()
SUFFIXES = (".xlsx", ".csv")
# Room for the multipart framing and the other fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
_CHUNK = 256 * 1024


def _limits(request: Request) -> SheetLimits:
    settings = getattr(request.app.state, "settings", None)
    base = settings.sheet_limits() if settings is not None else SheetLimits()
    return sheet.limits(base)


def _path(estate: str) -> str:
    return f"/dashboards/estates/{estate}/volunteers/import"


def _page(ctx: layout.Context, estate: str, message: str = "", status: int = 200) -> Response:
    form = (
        f'<div class="card"><p>{ctx.t("vol.import.help")}</p>'
        f'<p class="note">{ctx.t("vol.import.format")}</p>'
        f'<form method="post" action="{_path(estate)}" enctype="multipart/form-data">'
        f"{common.csrf_field(ctx.request)}"
        f'<label for="sheet">{ctx.t("vol.import.file")}</label> '
        f'<input type="file" id="sheet" name="sheet" accept=".xlsx,.csv" required> '
        f'<button type="submit" id="import-submit">{ctx.t("vol.import.submit")}</button></form>'
        f'<p><a href="/dashboards/estates/{estate}/volunteers">{ctx.t("vol.back")}</a></p></div>'
    )
    return layout.page(ctx, ctx.t("vol.import.title"), message + form, status_code=status)


def _error(text: str) -> str:
    return f'<p class="error" id="import-error" role="alert">{escape(text)}</p>'


def _problems(ctx: layout.Context, errors: list[RowError]) -> str:
    rows = "".join(
        f'<tr data-line="{e.line}"><td>{e.line}</td><td>{escape(e.column)}</td><td>'
        + escape(
            volunteer_form.problem(
                ctx.locale,
                e.code,
                e.values,
                e.column or volunteer_form.field_label(ctx.locale, "name"),
            )
        )
        + "</td></tr>"
        for e in errors
    )
    head = "".join(
        f"<th>{ctx.t(k)}</th>"
        for k in ("vol.import.col.line", "vol.import.col.column", "vol.import.col.reason")
    )
    return (
        _error(ctx.t("vol.import.refused", count=len(errors)))
        + f'<div class="table"><table id="import-problems"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


@router.get(
    "/dashboards/estates/{estate}/volunteers/import", include_in_schema=False, response_model=None
)
async def import_page(estate: EstatePath, request: Request, conn: ConnDep) -> Response:
    """The upload form and how to write the sheet."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    return _page(found[1], estate)


async def _save(upload: UploadFile, path: Path, max_bytes: int) -> bool:
    """Copy the upload to `path`; False when it is larger than `max_bytes`."""
    size = 0
    with path.open("wb") as out:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                return False
            out.write(chunk)
    return True


@router.post(
    "/dashboards/estates/{estate}/volunteers/import", include_in_schema=False, response_model=None
)
async def import_sheet(estate: EstatePath, request: Request, conn: ConnDep) -> Response:
    """Import the sheet's volunteers, all or none."""
    found = await committee_page(request, conn, estate)
    if isinstance(found, Response):
        return found
    ctx = found[1]
    limits = _limits(request)
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > limits.max_bytes + FORM_OVERHEAD_BYTES:
        return _page(ctx, estate, _error(_too_large(ctx, limits)), 413)
    form = await request.form(max_files=1, max_fields=4)
    try:
        read = await _read(request, ctx, estate, form.get("sheet"), limits)
    finally:
        await form.close()  # the upload's spooled file
    if isinstance(read, Response):
        return read
    records, lines = read
    existing = {(v["name"], v["contact"] or "") for v in await repo.list_volunteers(conn, estate)}
    checked = sheet.check(records, lines, existing)
    if checked.errors:
        return _page(ctx, estate, _problems(ctx, checked.errors), 422)
    await _store(conn, estate, checked)
    count = len(checked.volunteers)
    return RedirectResponse(
        f"/dashboards/estates/{estate}/volunteers?done=imported&count={count}", status_code=303
    )


async def _read(
    request: Request, ctx: layout.Context, estate: str, upload: Any, limits: SheetLimits
) -> tuple[list[dict[str, str]], list[int]] | Response:
    """The uploaded sheet's rows and lines, or the page saying why there are none."""
    if (refused := await common.refused(request)) is not None:
        return refused
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(ctx, estate, _error(ctx.t("vol.import.no_file")), 400)
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in SUFFIXES:
        return _page(ctx, estate, _error(ctx.t("vol.import.type")), 400)
    with tempfile.TemporaryDirectory(prefix="fenlei-volunteers-") as folder:
        path = Path(folder) / f"volunteers{suffix}"
        if not await _save(upload, path, limits.max_bytes):
            return _page(ctx, estate, _error(_too_large(ctx, limits)), 413)
        try:
            rows: tuple[list[dict[str, str]], list[int]] = await run_in_threadpool(
                sheet.read, path, limits
            )
        except TooLarge as exc:
            return _page(ctx, estate, _error(_too_large(ctx, limits, str(exc))), 413)
        except Invalid as exc:
            return _page(ctx, estate, _error(ctx.t("vol.import.unreadable", detail=str(exc))), 400)
    return rows


def _too_large(ctx: layout.Context, limits: SheetLimits, detail: str = "") -> str:
    """The sheet's bounds in the page's language, with the reader's own words (English)."""
    return ctx.t(
        "vol.import.too_large",
        rows=f"{limits.max_rows:,}",
        mb=f"{limits.max_bytes / 1024 / 1024:g}",
        detail=detail or f"{limits.max_bytes:,} bytes",
    )


async def _store(conn: Any, estate: str, checked: sheet.VolunteerSheet) -> None:
    # One transaction: a failure part-way (the database going away) stores none of them.
    async with conn.transaction():
        for _, body in checked.volunteers:
            await service.create_volunteer(conn, estate, body)
    audit.record(
        "volunteers_imported",
        f"{len(checked.volunteers)} volunteers of {estate} imported from a sheet",
        estate=estate,
        rows=len(checked.volunteers),
    )
