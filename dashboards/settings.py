"""Settings of the dashboards (FENLEI_* variables): read by the entry point, kept on the app.

`fenlei.app.load_settings()` reads them (and makes up a session secret when none is
configured); `fenlei.app.create_app` stores them on `app.state`; pages get them with
`get_dashboard_settings(request)`. Nothing here reads the environment by itself.
"""

from __future__ import annotations

from fastapi import Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    """Session signing, targets on the cards, and the disclosure board's privacy rules."""

    model_config = SettingsConfigDict(env_prefix="FENLEI_", extra="ignore")

    # Signs the session cookie and keys household pseudonyms. Unset: the entry point makes
    # up a random secret per process (sessions end and pseudonyms change on restart;
    # several processes disagree).
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


def get_dashboard_settings(request: Request) -> DashboardSettings:
    """The settings the composition root (`fenlei.app.create_app`) put on the app."""
    settings: DashboardSettings | None = getattr(request.app.state, "dashboard_settings", None)
    if settings is None:
        # Not a default from the environment: a page would then sign sessions with
        # whatever secret this process happened to make up.
        raise RuntimeError("the app has no dashboard settings: build it with fenlei.app.create_app")
    return settings
