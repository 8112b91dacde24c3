"""/account/v1: Linked upstream identities: list, unlink."""

from __future__ import annotations

from flask_smorest import Blueprint

from idp.account import PREFIX

blp = Blueprint(
    "account_identities", __name__, url_prefix=PREFIX, description="Linked upstream identities"
)
