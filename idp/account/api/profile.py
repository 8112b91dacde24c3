"""/account/v1 profile: read and change, e-mail change with re-verification."""

from __future__ import annotations

from flask_smorest import Blueprint

from idp.account import PREFIX

blp = Blueprint("account_profile", __name__, url_prefix=PREFIX, description="Profile")
