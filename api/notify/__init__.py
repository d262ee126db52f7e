"""Notifications of alarms (#16): channels per estate, routing, and the dispatcher."""
