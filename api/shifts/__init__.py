"""Shifts: the watches a roster made, who is on duty, check-in and check-out, and the
room's telemetry during a watch."""
