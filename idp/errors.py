"""Domain exceptions raised by services; each surface maps them to the wire once."""

from __future__ import annotations


class IdPError(Exception):
    status = 400
    type = "about:blank"
    title = "Bad request"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class NotFound(IdPError):
    status = 404
    type = "not-found"
    title = "Not found"


class Conflict(IdPError):
    status = 409
    type = "conflict"
    title = "Conflict"


class InvalidInput(IdPError):
    status = 422
    type = "invalid-input"
    title = "Invalid input"

    def __init__(self, detail: str | None = None, field_errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.field_errors = field_errors or {}


class Forbidden(IdPError):
    status = 403
    type = "forbidden"
    title = "Forbidden"


class AuthenticationFailed(IdPError):
    status = 401
    type = "authentication-failed"
    title = "Authentication failed"


class RateLimited(IdPError):
    status = 429
    type = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ReauthenticationRequired(AuthenticationFailed):
    """The action needs a sign-in no older than `max_age` seconds (RFC 9470 step-up:
    `insufficient_user_authentication`): a stolen session or token alone must not be enough
    to add a way into the account."""

    type = "insufficient-user-authentication"
    title = "Recent sign-in required"

    def __init__(self, max_age: int, detail: str | None = None) -> None:
        super().__init__(detail or f"Sign in again (within {max_age // 60} minutes) to do this")
        self.max_age = max_age
