"""Every /account/v1 blueprint, registered in this order."""

from idp.account.api.devices import blp as devices_blp
from idp.account.api.identities import blp as identities_blp
from idp.account.api.mfa import blp as mfa_blp
from idp.account.api.passkeys import blp as passkeys_blp
from idp.account.api.password import blp as password_blp
from idp.account.api.profile import blp as profile_blp
from idp.account.api.subscription import blp as subscription_blp

BLUEPRINTS = [
    profile_blp,
    password_blp,
    mfa_blp,
    passkeys_blp,
    devices_blp,
    identities_blp,
    subscription_blp,
]
