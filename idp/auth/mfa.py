"""The second step of sign-in: an authenticator-app code, a backup code or a passkey."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mfa", __name__)


@bp.get("/login/mfa", endpoint="challenge")
def challenge() -> str:
    raise NotImplementedError  # being built in this change
