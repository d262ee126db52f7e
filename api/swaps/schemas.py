"""Request and response shapes of swap offers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.fields import Text
from api.shifts.schemas import Shift

SwapStatus = Literal["open", "accepted", "cancelled"]


class SwapIn(BaseModel):
    """An offer of one's shift to the others."""

    model_config = ConfigDict(extra="forbid")

    note: Text | None = Field(default=None, max_length=500)


class Swap(BaseModel):
    """A swap offer and what became of it."""

    id: int
    assignment_id: int
    shift: Shift
    offered_by: int
    offered_by_name: str
    taken_by: int | None
    taken_by_name: str | None
    status: SwapStatus
    note: str | None
    created_at: datetime
    decided_at: datetime | None
