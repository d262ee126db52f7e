"""Device credential routes (admin role): issue or rotate, read metadata, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import ID_PATTERN, BrokerDep, ConnDep, EstateAdmin, EstatePath
from api.devices import service
from api.devices.schemas import CredentialInfo, IssuedCredential
from api.problems import responses

router = APIRouter(prefix="/api/v1", tags=["devices"], responses=responses(401, 403, 404, 422, 503))

RoomPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["r1"])]
BinPath = Annotated[str, Path(pattern=ID_PATTERN, examples=["b-wet"])]
CREDENTIALS = "/estates/{estate}/rooms/{room}/bins/{bin}/credentials"
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {**responses(404)[404], "description": "no such bin (or no login)"}
}


@router.post(CREDENTIALS, status_code=201, response_model=IssuedCredential, responses=NOT_FOUND)
async def issue_credentials(
    estate: EstatePath,
    room: RoomPath,
    bin: BinPath,
    conn: ConnDep,
    broker: BrokerDep,
    _: EstateAdmin,
) -> Any:
    """Issue the bin's MQTT login, or rotate it: the password is shown only this once.

    A rotation kicks the device's open session and refuses the old password at once.
    `broker_applied: false` means the login is stored but the broker could not be
    told; `fenlei devices sync` applies it.
    """
    return await service.issue(conn, broker, estate, room, bin)


@router.get(CREDENTIALS, response_model=CredentialInfo, responses=NOT_FOUND)
async def get_credentials(
    estate: EstatePath, room: RoomPath, bin: BinPath, conn: ConnDep, _: EstateAdmin
) -> Any:
    """The bin's login without its secret: when issued, rotated, last connected."""
    return await service.info(conn, estate, room, bin)


@router.delete(CREDENTIALS, status_code=204, responses=NOT_FOUND)
async def revoke_credentials(
    estate: EstatePath,
    room: RoomPath,
    bin: BinPath,
    conn: ConnDep,
    broker: BrokerDep,
    _: EstateAdmin,
) -> None:
    """Revoke the bin's login: new connections are refused, an open one is dropped."""
    await service.revoke(conn, broker, estate, room, bin)
