"""`fenlei token` and `fenlei registry`: arguments (cheap to import) and runs.

Only argparse is imported at module level; each `run` imports what it needs. (`fenlei
api`, which serves the whole application, is `fenlei.serve`: `api` does not import the
pages mounted on it.)
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import date, datetime

    import psycopg

    from api.registry.repository import Upsert
    from api.registry.sheet import Sheet

ROLES = ("admin", "volunteer", "viewer")


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of subcommand `name` (token or registry)."""
    if name == "token":
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a token; printed on the last line")
        create.add_argument("--role", choices=ROLES, required=True)
        create.add_argument(
            "--estate",
            action="append",
            default=[],
            metavar="ESTATE",
            help="limit the token to this estate (repeatable; default: all)",
        )
        create.add_argument("--name", default="", help="who or what the token is for")
        _expiry_arguments(create, "default: never")
        actions.add_parser("list", help="list tokens (never the tokens themselves)")
        revoke = actions.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("id", type=int)
        rotate = actions.add_parser(
            "rotate",
            help="a new secret for a token (same id, role, estates); printed on the last line",
        )
        rotate.add_argument("id", type=int)
        rotate.add_argument(
            "--grace",
            metavar="DURATION",
            help="keep the old secret working this long (e.g. 1h, at most 30d; default: none)",
        )
        _expiry_arguments(rotate, "default: the expiry stays")
    elif name == "registry":
        actions = parser.add_subparsers(dest="action", required=True)
        imp = actions.add_parser(
            "import",
            help="import a household sheet (CSV or .xlsx); all rows or none",
            description="Columns: id, building, building_group, enrolled_on, left_on, "
            "effective_on (when a change of building or group applies; default today), "
            "display_name, publish_consent (yes/no); dates YYYY-MM-DD. Any invalid row, or "
            "one that contradicts a household's recorded history: nothing is imported.",
        )
        imp.add_argument("file", help="the sheet (.csv UTF-8 or .xlsx)")
        imp.add_argument("--estate", required=True)
    else:
        raise ValueError(f"api.cli does not provide {name!r}")


def _expiry_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--expires-in",
        metavar="DURATION",
        help=f"the token stops working after this long: 90d, 12h, 30m, 2w ({default})",
    )
    when.add_argument(
        "--expires-on",
        metavar="YYYY-MM-DD",
        type=_day,
        help=f"the token works until the end of this day, local time ({default})",
    )


def _day(text: str) -> date:
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def run(args: argparse.Namespace) -> int:
    """Run the subcommand parsed into `args`."""
    if args.command == "token":
        return _token(args)
    return _import(args)


def _connect() -> psycopg.Connection[Any]:
    import psycopg

    from api.settings import ApiSettings

    settings = ApiSettings()  # type: ignore[call-arg]  # database_url comes from the env
    return psycopg.connect(settings.database_url, application_name="fenlei-cli", autocommit=True)


def _expiry(args: argparse.Namespace) -> datetime | None:
    """The instant `--expires-in` / `--expires-on` name (None: neither was given)."""
    from datetime import datetime

    from api.auth.tokens import expiry_in, expiry_on

    now = datetime.now().astimezone()
    if args.expires_in is not None:
        return expiry_in(args.expires_in, now)
    if args.expires_on is not None:
        return expiry_on(args.expires_on, now)
    return None


def _until(moment: datetime | None) -> str:
    return f"until {moment.astimezone():%Y-%m-%d %H:%M %Z}" if moment else "without expiry"


def _token(args: argparse.Namespace) -> int:
    from api.auth import repository
    from api.auth.tokens import Role

    if args.action == "rotate":
        return asyncio.run(_rotate(args))
    with _connect() as conn:
        if args.action == "create":
            expires = _expiry(args)
            token_id, token = repository.create_token(
                conn, Role(args.role), args.estate, args.name, expires
            )
            scope = ", ".join(args.estate) if args.estate else "every estate"
            print(
                f"token {token_id}: role {args.role}, {scope}, {_until(expires)}."
                " Shown once; store it now:"
            )
            print(token)
        elif args.action == "list":
            for row in repository.list_tokens(conn):
                print(repository.describe(row))
        else:
            repository.revoke_token(conn, args.id)
            print(f"revoked token {args.id}")
    return 0


async def _rotate(args: argparse.Namespace) -> int:
    from datetime import timedelta

    import psycopg

    from api.auth import repository
    from api.auth.tokens import MAX_GRACE, parse_duration
    from api.settings import ApiSettings

    grace = parse_duration(args.grace, MAX_GRACE, "grace") if args.grace else timedelta(0)
    expires = _expiry(args)
    renew = args.expires_in is not None or args.expires_on is not None
    settings = ApiSettings()  # type: ignore[call-arg]  # database_url comes from the env
    async with await psycopg.AsyncConnection.connect(
        settings.database_url, application_name="fenlei-cli", autocommit=True
    ) as conn:
        done = await repository.rotate_token(conn, args.id, grace, expires, renew)
    old = (
        f"the old one works until {done.previous_valid_until.astimezone():%Y-%m-%d %H:%M %Z}"
        if grace
        else "the old one no longer works"
    )
    print(
        f"token {args.id} rotated ({old}); {_until(done.expires_at)}."
        " The new secret is shown once; store it now:"
    )
    print(done.token)
    return 0


def _import(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from api.errors import Invalid
    from api.registry.sheet import read_sheet
    from api.settings import ApiSettings

    path = Path(args.file)
    if not path.is_file():
        raise Invalid(f"no such file: {path}")
    # Bounded before it is read whole: a small file can declare a huge sheet.
    settings = ApiSettings()  # type: ignore[call-arg]  # database_url comes from the env
    sheet = read_sheet(path, settings.sheet_limits())
    if sheet.rejected:
        print(f"{len(sheet.rejected)} row(s) rejected; nothing was imported:", file=sys.stderr)
        for row in sheet.rejected:
            print(f"  line {row.line}: {row.reason}", file=sys.stderr)
        raise Invalid(f"{path.name}: fix the {len(sheet.rejected)} rejected row(s) and re-run")
    try:
        done = asyncio.run(_store_sheet(args.estate, path.name, sheet))
    except Invalid as exc:
        # Rows that contradict the stored history, by sheet line (the API says "body i").
        print(f"{exc}:", file=sys.stderr)
        for error in exc.errors:
            loc = error.get("loc")
            index = loc[1] if isinstance(loc, list) and len(loc) > 1 else None
            where = f"line {sheet.lines[index]}" if isinstance(index, int) else "sheet"
            print(f"  {where}: {error.get('msg')}", file=sys.stderr)
        raise Invalid(f"{path.name}: fix the row(s) above and re-run") from None
    result = done.as_response()
    back = result["backdated"]
    print(
        f"imported {done.rows} households into {args.estate} "
        f"({done.created} new, {done.updated} changed, {result['unchanged']} unchanged)"
    )
    if back["rows"]:
        print(
            f"{back['rows']} change(s) dated before today, from {back['earliest']}: "
            f"the figures of {back['days_touched']} past day(s) change with them"
        )
    return 0


async def _store_sheet(estate: str, name: str, sheet: Sheet) -> Upsert:
    import psycopg
    from tqdm import tqdm

    from api.registry import repository
    from api.settings import ApiSettings

    settings = ApiSettings()  # type: ignore[call-arg]  # database_url comes from the env
    async with await psycopg.AsyncConnection.connect(
        settings.database_url, application_name="fenlei-cli", autocommit=True
    ) as conn:
        with tqdm(total=len(sheet.households), unit="household", desc=name) as bar:
            return await repository.upsert_households(
                conn, estate, sheet.households, progress=bar.update
            )
