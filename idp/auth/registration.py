"""Hosted pages around the account's e-mail address: self-registration, e-mail verification
(link or code) and password reset."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("registration", __name__)
