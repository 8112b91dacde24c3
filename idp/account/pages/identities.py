"""Hosted account page /account/linked: linked accounts."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("identity_pages", __name__)
