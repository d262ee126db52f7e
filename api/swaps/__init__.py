"""Swaps: a volunteer offers a future watch, another volunteer of the estate takes it."""
