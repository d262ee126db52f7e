"""The printable 公示 poster (A4 PDF) and the monthly report (月报) workbook."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
