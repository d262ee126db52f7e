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
        actions.add_parser("list", help="list tokens (never the tokens themselves)")
        revoke = actions.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("id", type=int)
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


def _token(args: argparse.Namespace) -> int:
    from api.auth import repository
    from api.auth.tokens import Role

    with _connect() as conn:
        if args.action == "create":
            token_id, token = repository.create_token(conn, Role(args.role), args.estate, args.name)
            scope = ", ".join(args.estate) if args.estate else "every estate"
            print(f"token {token_id}: role {args.role}, {scope}. Shown once; store it now:")
            print(token)
        elif args.action == "list":
            for row in repository.list_tokens(conn):
                print(repository.describe(row))
        else:
            repository.revoke_token(conn, args.id)
            print(f"revoked token {args.id}")
    return 0


def _import(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from api.errors import Invalid
    from api.registry.sheet import read_sheet

    path = Path(args.file)
    if not path.is_file():
        raise Invalid(f"no such file: {path}")
    sheet = read_sheet(path)
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
