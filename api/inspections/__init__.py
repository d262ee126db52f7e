"""Inspections volunteers record during a watch, and the sorting accuracy they give
(passed / inspected)."""
