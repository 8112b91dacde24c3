"""Hosted account page /account/devices: signed-in browsers."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("device_pages", __name__)
