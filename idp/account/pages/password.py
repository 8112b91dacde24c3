"""Hosted account page /account/password: change or set the password."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("password_pages", __name__)
