"""/account/v1: MFA status, TOTP setup/verify/disable, backup codes."""

from __future__ import annotations

from flask_smorest import Blueprint

from idp.account import PREFIX

blp = Blueprint(
    "account_mfa",
    __name__,
    url_prefix=PREFIX,
    description="MFA status, TOTP setup/verify/disable, backup codes",
)
