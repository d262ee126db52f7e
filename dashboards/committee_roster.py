"""The committee's watch slots and roster: slots per room, publish, edit, uncovered slots."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
