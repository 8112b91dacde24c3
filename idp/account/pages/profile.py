"""Hosted account page /account: the profile page and e-mail change."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("profile_pages", __name__)
