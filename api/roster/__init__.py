"""The roster: each room's watch slots, a month's shifts generated fairly, and watch
coverage (uncovered watches and busy slots that need more volunteers).

`rotation.py` is the pure slot and fair-rotation logic; `service.py` applies it to the
stored estate, `repository.py` holds the SQL.
"""
