"""Errors the API raises on purpose; `api.main` maps each class to one HTTP status."""

from __future__ import annotations

from fenlei.errors import FenleiError


class ApiError(FenleiError):
    """Base of the API's errors; carries a message a client can act on."""

    status_code = 400


class NotAuthenticated(ApiError):
    """No bearer token, or one that is unknown, revoked or expired (401)."""

    status_code = 401


class Forbidden(ApiError):
    """The token's role or estates do not allow this request (403)."""

    status_code = 403


class NotFound(ApiError):
    """The estate, room, bin, household or token does not exist (404)."""

    status_code = 404


class Conflict(ApiError):
    """The request contradicts what is stored (409)."""

    status_code = 409


class Invalid(ApiError):
    """The request is well-formed but its values are not acceptable (422)."""

    status_code = 422

    def __init__(self, message: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class TooLarge(ApiError):
    """A request body or an imported file is larger than this deployment accepts (413)."""

    status_code = 413


class Unavailable(ApiError):
    """The database cannot be reached right now (503)."""

    status_code = 503
