"""Request and response shapes of inspections and sorting accuracy."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.fields import JsonInt, Text, broken_rule
from api.registry.schemas import Category


class InspectionLine(BaseModel):
    """Counts of one category: drops checked, mis-sorted among them, re-sorted on the spot."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    # JsonInt: JSON true is not 1.
    checked: JsonInt = Field(ge=0, le=100_000)
    mis_sorted: JsonInt = Field(ge=0, le=100_000)
    re_sorted: JsonInt = Field(default=0, ge=0, le=100_000)

    @model_validator(mode="after")
    def _consistent(self) -> InspectionLine:
        if self.mis_sorted > self.checked:
            raise broken_rule(f"{self.category}: mis_sorted exceeds the drops checked")
        if self.re_sorted > self.mis_sorted:
            raise broken_rule(f"{self.category}: re_sorted exceeds the mis-sorted drops")
        return self


class InspectionIn(BaseModel):
    """An inspection during a shift."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "building": "12",
                    "notes": "外卖盒混入湿垃圾",
                    "photo_ref": "oss://photos/123.jpg",
                    "lines": [
                        {"category": "wet", "checked": 40, "mis_sorted": 3, "re_sorted": 3},
                        {"category": "dry", "checked": 25, "mis_sorted": 1, "re_sorted": 1},
                    ],
                }
            ]
        },
    )

    building: Text | None = Field(default=None, max_length=64)
    notes: Text | None = Field(default=None, max_length=2000)
    photo_ref: Text | None = Field(default=None, max_length=500)
    lines: list[InspectionLine] = Field(min_length=1, max_length=5)

    @field_validator("lines")
    @classmethod
    def _one_per_category(cls, value: list[InspectionLine]) -> list[InspectionLine]:
        if len({x.category for x in value}) != len(value):
            raise broken_rule("one line per category")
        return value


class Inspection(InspectionIn):
    """An inspection as stored."""

    id: int
    assignment_id: int
    shift_id: int
    volunteer_id: int
    estate: str
    room: str
    recorded_at: datetime
    updated_at: datetime


class AccuracyRow(BaseModel):
    """Accuracy of a group: passed ÷ inspected, with the evidence behind it."""

    inspected: int = Field(description="drops inspected")
    passed: int = Field(description="inspected drops that were sorted correctly")
    mis_sorted: int
    re_sorted: int
    accuracy: float | None = Field(description="passed / inspected; null with no inspections")
    inspections: int


class BuildingAccuracy(AccuracyRow):
    """Accuracy of one building (null: inspections that named no building)."""

    building: str | None


class Accuracy(AccuracyRow):
    """Sorting accuracy of an estate over local days [from, to]."""

    model_config = ConfigDict(populate_by_name=True)

    estate: str
    from_: date = Field(alias="from")
    to: date
    by_category: dict[str, AccuracyRow]
    by_building: list[BuildingAccuracy]
