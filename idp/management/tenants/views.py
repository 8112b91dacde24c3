"""/management/v1/tenants: list, create, read, change. Platform keys only: a tenant's own
credential never sees or changes other tenants, whatever its scopes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from idp import errors
from idp.extensions import db
from idp.management import PREFIX
from idp.management.auth import caller
from idp.management.auth import require_scope
from idp.management.fields import PageQuerySchema
from idp.management.tenants.schemas import TenantPageSchema
from idp.management.tenants.schemas import TenantPatchSchema
from idp.management.tenants.schemas import TenantSchema
from idp.models import Tenant
from idp.services import tenants
from idp.services.keyset import Page

blp = Blueprint(
    "tenants",
    __name__,
    url_prefix=f"{PREFIX}/tenants",
    description="Tenants (organisations); platform keys only",
)


def platform_only(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if caller().tenant_id is not None:
            raise errors.Forbidden("Only a platform key may manage tenants")
        return view(*args, **kwargs)

    return wrapper


@blp.route("")
class Tenants(MethodView):
    @platform_only
    @require_scope("tenants:read")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, TenantPageSchema)
    def get(self, page: dict[str, Any]) -> Page[Tenant]:
        """List tenants

        Needs a platform key with `tenants:read` (a tenant's own credential gets 403). Newest first,
        paged by `limit` plus `cursor` (the previous page's `next_cursor`) or `offset`, not both.
        """
        return tenants.list_tenants(**page)

    @platform_only
    @require_scope("tenants:write")
    @blp.arguments(TenantSchema)
    @blp.response(201, TenantSchema)
    def post(self, data: dict[str, Any]) -> Tenant:
        """Create a tenant

        Needs a platform key with `tenants:write`. The `slug` (lowercase letters, digits and
        hyphens) is fixed once created; 409 if it is taken, 422 if it is invalid.
        """
        tenant = tenants.create(data["slug"], data["name"], actor=caller().actor)
        db.session.commit()
        return tenant


@blp.route("/<tenant_id>")
class TenantItem(MethodView):
    @platform_only
    @require_scope("tenants:read")
    @blp.response(200, TenantSchema)
    def get(self, tenant_id: str) -> Tenant:
        """Get a tenant

        Needs a platform key with `tenants:read`. 404 for an unknown id.
        """
        return tenants.get(tenant_id)

    @platform_only
    @require_scope("tenants:write")
    @blp.arguments(TenantPatchSchema)
    @blp.response(200, TenantSchema)
    def patch(self, changes: dict[str, Any], tenant_id: str) -> Tenant:
        """Update a tenant

        Needs a platform key with `tenants:write`. Changes `name`, `registration_enabled` or
        `branding` (replaced as a whole); the slug cannot change. 422 for invalid fields.
        """
        tenant = tenants.update(tenants.get(tenant_id), actor=caller().actor, **changes)
        db.session.commit()
        return tenant
