"""Settings of the dashboards (FENLEI_* variables), read once per app and kept on it."""

from __future__ import annotations

import logging
import secrets

from fastapi import Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class DashboardSettings(BaseSettings):
    """Session signing, targets on the cards, and the disclosure board's privacy rules."""

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore")

    # Signs the session cookie and keys household pseudonyms. Unset: a random secret per
    # process (sessions end and pseudonyms change on restart; several processes disagree).
    session_secret: str = Field(default="", repr=False)
    # Seconds a sign-in lasts: a working day plus margin, so a shared office PC forgets.
    session_max_age_s: int = Field(default=12 * 3600, gt=0)
    # Send the cookie over HTTPS only; off by default because estates often run plain HTTP
    # on a LAN.
    session_cookie_secure: bool = False
    # Targets the cards are judged against (ratios, >=).
    target_coverage: float = Field(default=0.95, ge=0, le=1)
    target_participation_rate: float = Field(default=0.80, ge=0, le=1)
    target_wet_share: float = Field(default=0.35, ge=0, le=1)
    target_in_window_share: float = Field(default=0.85, ge=0, le=1)
    # Building groups with fewer enrolled households are hidden on the disclosure board:
    # a ranking of three households points at individual families.
    disclosure_min_group: int = Field(default=5, ge=1)
    # Star families shown per building group.
    disclosure_stars: int = Field(default=3, ge=0, le=20)

    def secret(self) -> bytes:
        """The signing key as bytes."""
        return self.session_secret.encode()

    def targets(self) -> dict[str, float]:
        """{figure: target} for the cards."""
        return {
            "coverage": self.target_coverage,
            "participation_rate": self.target_participation_rate,
            "wet_share": self.target_wet_share,
            "in_window_share": self.target_in_window_share,
        }


def load_settings() -> DashboardSettings:
    """Settings from the environment, with a random secret when none is configured."""
    settings = DashboardSettings()
    if not settings.session_secret:
        log.warning("FENLEI_SESSION_SECRET is not set: using a random one for this process")
        settings.session_secret = secrets.token_urlsafe(32)
    return settings


def get_dashboard_settings(request: Request) -> DashboardSettings:
    """The app's dashboard settings (`app.state.dashboard_settings`), loaded on first use."""
    state = request.app.state
    settings: DashboardSettings | None = getattr(state, "dashboard_settings", None)
    if settings is None:
        settings = load_settings()
        state.dashboard_settings = settings
    return settings
