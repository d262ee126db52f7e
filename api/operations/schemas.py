"""Response shapes of the operators' routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.registry.schemas import Bin


class BinState(Bin):
    """A bin as operators see it: device state and its MQTT login."""

    has_credentials: bool = Field(description="the bin has an MQTT login (POST …/credentials)")
    last_connected_at: datetime | None = Field(
        default=None, description="when the device last said it is online (its status message)"
    )
