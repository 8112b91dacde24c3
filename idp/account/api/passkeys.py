"""/account/v1: Passkeys and security keys: register, list, rename, delete."""

from __future__ import annotations

from flask_smorest import Blueprint

from idp.account import PREFIX

blp = Blueprint(
    "account_passkeys", __name__, url_prefix=PREFIX, description="Passkeys and security keys"
)
