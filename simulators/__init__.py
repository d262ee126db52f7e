"""Simulated estates, households and bins that publish like real devices."""
