"""Every hosted account page blueprint."""

from idp.account.pages.devices import bp as devices_bp
from idp.account.pages.identities import bp as identities_bp
from idp.account.pages.mfa import bp as mfa_bp
from idp.account.pages.passkeys import bp as passkeys_bp
from idp.account.pages.password import bp as password_bp
from idp.account.pages.profile import bp as profile_bp

PAGE_BLUEPRINTS = [profile_bp, password_bp, mfa_bp, passkeys_bp, devices_bp, identities_bp]
