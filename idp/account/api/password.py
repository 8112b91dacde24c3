"""/account/v1 password: change."""

from __future__ import annotations

from flask_smorest import Blueprint

from idp.account import PREFIX

blp = Blueprint("account_password", __name__, url_prefix=PREFIX, description="Password")
