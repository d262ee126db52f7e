"""Settings of the dashboards (FENLEI_* variables): read by the entry point, kept on the app.

`fenlei.app.load_settings()` reads them and refuses to start without the secrets outside
development (`FENLEI_DEV=1`, where it makes them up); `fenlei.app.create_app` decides
whether cookies are Secure and stores the settings on `app.state`; pages get them with
`get_dashboard_settings(request)`. Nothing here reads the environment by itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A secret shorter than this is a password someone typed, not a key.
MIN_SECRET_CHARS = 32


class DashboardSettings(BaseSettings):
    """Sessions and cookies, targets on the cards, and the disclosure board's privacy rules."""

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore", populate_by_name=True)

    # Development: the entry point may make up the secrets below (per process), and
    # cookies are not Secure unless FENLEI_COOKIE_SECURE says so. The demo sets it.
    dev: bool = False
    # Keys the pages' CSRF tokens (sessions themselves are random ids in the database).
    # Every API replica must share it: required outside development.
    session_secret: str = Field(default="", repr=False)
    # Keys the households' per-period codes on boards and on the committee's notice slips
    # (FENLEI_PSEUDONYM_KEY): separate from the session secret, so rotating that one
    # leaves the codes handed out unchanged.
    pseudonym_secret: str = Field(
        default="",
        repr=False,
        validation_alias=AliasChoices("pseudonym_secret", "FENLEI_PSEUDONYM_KEY"),
    )
    # Files holding them instead (FENLEI_SESSION_SECRET_FILE, FENLEI_PSEUDONYM_KEY_FILE):
    # Docker's and Kubernetes' secrets are files, and a file stays out of `docker inspect`.
    session_secret_file: str = ""
    pseudonym_key_file: str = ""
    # Seconds a committee sign-in lasts: a working day plus margin, so a shared PC forgets.
    session_max_age_s: int = Field(default=12 * 3600, gt=0)
    # Seconds a volunteer's phone stays signed in: a month of watches, then the token again.
    volunteer_session_max_age_s: int = Field(default=30 * 24 * 3600, gt=0)
    # Cookies over HTTPS only. Unset ("auto"): Secure unless the server binds loopback or
    # runs in development (`fenlei.app.create_app` decides). An estate serving plain HTTP
    # on its LAN sets it to false explicitly.
    cookie_secure: bool | None = None
    # Targets the cards are judged against (ratios, >=).
    target_coverage: float = Field(default=0.95, ge=0, le=1)
    target_participation_rate: float = Field(default=0.80, ge=0, le=1)
    target_wet_share: float = Field(default=0.35, ge=0, le=1)
    target_in_window_share: float = Field(default=0.85, ge=0, le=1)
    # Sorting accuracy's target (FENLEI_TARGET_ACCURACY): none unless the district sets
    # one, and the card then says "no target set" rather than judge against a made-up one.
    target_accuracy: float | None = Field(default=None, ge=0, le=1)
    # Minutes without any stored event, inside an estate's drop-off windows, after which
    # every dashboard says its data stopped coming in (FENLEI_STALE_MINUTES). Bins report
    # each drop at once, and a busy window has a drop every few minutes.
    stale_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Building groups where fewer households took part are hidden on the disclosure
    # board: a ranking of three households points at individual families.
    disclosure_min_group: int = Field(default=5, ge=1)
    # Periods shorter than this list no household: shorter boards, repeated, would be a
    # family's diary (docs/privacy.md).
    disclosure_min_period_days: int = Field(default=7, ge=1, le=366)
    # Star families shown per building group.
    disclosure_stars: int = Field(default=3, ge=0, le=20)

    @field_validator("cookie_secure", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        # compose passes an unset variable as "": that, like "auto", means decide.
        return None if isinstance(value, str) and value.strip().lower() in ("", "auto") else value

    @field_validator("target_accuracy", mode="before")
    @classmethod
    def _unset(cls, value: Any) -> Any:
        # An empty FENLEI_TARGET_ACCURACY (compose's unset variable) means no target.
        return None if isinstance(value, str) and not value.strip() else value

    def secret(self) -> bytes:
        """The session secret as bytes: the CSRF tokens' key."""
        return self.session_secret.encode()

    def pseudonym_key(self) -> bytes:
        """The key of household codes (FENLEI_PSEUDONYM_KEY) as bytes.

        `fenlei.app.load_settings` never leaves it unset (nor equal to the session
        secret); settings built directly without one (tests, benchmarks) key the codes
        with the session secret, as before the two were separated.
        """
        return (self.pseudonym_secret or self.session_secret).encode()

    def secure_cookies(self) -> bool:
        """Whether cookies carry `Secure`; undecided counts as yes."""
        return self.cookie_secure is not False

    def targets(self) -> dict[str, float]:
        """{figure: target} for the cards."""
        return {
            "coverage": self.target_coverage,
            "participation_rate": self.target_participation_rate,
            "wet_share": self.target_wet_share,
            "in_window_share": self.target_in_window_share,
        }


def get_dashboard_settings(request: Request) -> DashboardSettings:
    """The settings the composition root (`fenlei.app.create_app`) put on the app."""
    settings: DashboardSettings | None = getattr(request.app.state, "dashboard_settings", None)
    if settings is None:
        # Not a default from the environment: a page would then sign its forms with
        # whatever secret this process happened to make up.
        raise RuntimeError("the app has no dashboard settings: build it with fenlei.app.create_app")
    return settings
