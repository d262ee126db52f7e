"""The committee's volunteer screens: list, add, edit, deactivate, import, sign-in links."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
