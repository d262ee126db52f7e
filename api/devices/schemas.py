"""Response shapes of the credential routes: the secret once, metadata afterwards."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class IssuedCredential(BaseModel):
    """A device's login, as issued: the password appears here and nowhere else, ever."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "bin-17",
                    "password": "kq3Zt1…32 characters",
                    "client_id": "bin-17",
                    "broker_applied": True,
                }
            ]
        }
    )

    username: str
    password: str = Field(description="shown only in this response; fenlei keeps a hash")
    client_id: str | None = Field(description="the MQTT client id the device must connect with")
    broker_applied: bool = Field(
        description="the running broker confirmed it (false: `fenlei devices sync` applies it)"
    )


class CredentialInfo(BaseModel):
    """A device's login without its secret."""

    username: str
    client_id: str | None
    created_at: datetime
    rotated_at: datetime | None
    broker_applied: bool
    last_connected_at: datetime | None = Field(
        description="when the device last said it is online (its own status message)"
    )
