"""Settings of the alarm evaluator (`fenlei alarms`), from FENLEI_* variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlarmSettings(BaseSettings):
    """One evaluator process (a second one waits on the first's lock each tick)."""

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore")

    database_url: str
    # Seconds between ticks: an alarm is written at most this long after its event
    # is stored. The notifier wakes at the tick's commit (LISTEN fenlei_alarms), so
    # this plus one send must stay well under the 5 s from an event's commit to the
    # person on duty: at 5 s an event committed just after a tick reached the robot
    # after ~6 s.
    alarm_interval_s: float = Field(default=2.0, gt=0, le=3600)
    # Seconds of events re-read before the watermark each tick: an ingester's batch
    # whose transaction began earlier can commit after the evaluator's tick.
    alarm_overlap_s: float = Field(default=60.0, ge=0, le=3600)
    # On the very first tick (no watermark yet), how far back stored events are read.
    alarm_first_lookback_s: float = Field(default=3600.0, ge=0)
    # Backoff while the database is away.
    retry_min_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
