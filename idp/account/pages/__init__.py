"""Every hosted account page blueprint."""

from flask import Response
from flask import redirect
from flask import request
from flask import url_for

from idp import errors
from idp.account.pages.devices import bp as devices_bp
from idp.account.pages.identities import bp as identities_bp
from idp.account.pages.mfa import bp as mfa_bp
from idp.account.pages.passkeys import bp as passkeys_bp
from idp.account.pages.password import bp as password_bp
from idp.account.pages.profile import bp as profile_bp

PAGE_BLUEPRINTS = [profile_bp, password_bp, mfa_bp, passkeys_bp, devices_bp, identities_bp]


def _sign_in_again(exc: errors.ReauthenticationRequired) -> Response:
    """A page action that needs a recent sign-in: to the sign-in page and back here."""
    return redirect(url_for("auth.login", next=request.path), code=303)


for _blueprint in PAGE_BLUEPRINTS:
    _blueprint.register_error_handler(errors.ReauthenticationRequired, _sign_in_again)
