"""Hosted account page /account/two-step: authenticator app and backup codes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mfa_pages", __name__)
