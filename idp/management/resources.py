"""Every management blueprint, registered in this order."""

from idp.management.api_keys.views import blp as api_keys_blp
from idp.management.audit.views import blp as audit_blp
from idp.management.clients.views import blp as clients_blp
from idp.management.stats.views import blp as stats_blp
from idp.management.tenants.views import blp as tenants_blp
from idp.management.users.views import blp as users_blp

BLUEPRINTS = [api_keys_blp, users_blp, clients_blp, tenants_blp, audit_blp, stats_blp]
