"""Every management blueprint, registered in this order."""

from idp.management.api_keys.views import blp as api_keys_blp

BLUEPRINTS = [api_keys_blp]
