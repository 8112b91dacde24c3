"""Hosted account page /account/passkeys: passkeys and security keys."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("passkey_pages", __name__)
