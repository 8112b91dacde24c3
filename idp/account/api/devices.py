"""/account/v1: Devices."""

from __future__ import annotations

from flask_smorest import Blueprint

from idp.account import PREFIX

blp = Blueprint(
    "account_devices", __name__, url_prefix=PREFIX, description="Devices (browser sessions)"
)
