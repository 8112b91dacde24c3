"""WebAuthn ceremonies for sign-in: passwordless (discoverable credentials) and as a second
factor. JSON endpoints called by static/webauthn.js."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("passkeys", __name__)
