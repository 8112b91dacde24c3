"""/management/v1/stats: the tenant's user counts and recent sign-ins."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from idp.management import PREFIX
from idp.management.auth import require_scope
from idp.management.auth import tenant_id
from idp.management.stats.schemas import StatsSchema
from idp.services import stats

blp = Blueprint(
    "stats", __name__, url_prefix=f"{PREFIX}/stats", description="Counts for a dashboard"
)


@blp.route("")
class Stats(MethodView):
    @require_scope("stats:read")
    @blp.response(200, StatsSchema)
    def get(self) -> dict[str, dict[str, int]]:
        """Get dashboard counts

        Needs `stats:read`. The tenant's user counts (total, active, verified, MFA) and its
        sign-ins and distinct signed-in users over the last 1, 7 and 30 days.
        """
        return stats.tenant_stats(tenant_id())
