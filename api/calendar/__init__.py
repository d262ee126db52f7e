"""A volunteer's watches as an iCalendar feed, behind a secret URL key instead of a token."""
