"""/management/v1/api-keys: list, create (the key is shown once), revoke.

None of these routes concern one application, so keys restricted to an application get 403
here: a restricted key cannot mint, list or revoke keys."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from idp import errors
from idp.extensions import db
from idp.management import PREFIX
from idp.management.api_keys.schemas import ApiKeyPageSchema
from idp.management.api_keys.schemas import ApiKeySchema
from idp.management.api_keys.schemas import CreatedApiKeySchema
from idp.management.auth import caller
from idp.management.auth import require_scope
from idp.management.auth import tenant_id
from idp.management.fields import PageQuerySchema
from idp.models import ApiKey
from idp.services import api_keys

blp = Blueprint(
    "api_keys",
    __name__,
    url_prefix=f"{PREFIX}/api-keys",
    description="API keys for this management API",
)


def _get(key_id: str) -> ApiKey:
    record = db.session.get(ApiKey, key_id) if len(key_id) <= 36 else None
    if record is None or record.tenant_id != tenant_id():
        raise errors.NotFound("No such API key")
    return record


@blp.route("")
class ApiKeys(MethodView):
    @require_scope("api-keys:read")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, ApiKeyPageSchema)
    def get(self, page: dict[str, Any]) -> Any:
        """List API keys

        Needs `api-keys:read`. This tenant's keys, revoked and expired ones included, newest
        first, paged by `limit` plus `cursor` (from `next_cursor`) or `offset`. The key itself
        is never shown, only its `prefix`.
        """
        return api_keys.list_keys(
            tenant_id(), limit=page["limit"], cursor=page.get("cursor"), offset=page.get("offset")
        )

    @require_scope("api-keys:write")
    @blp.arguments(ApiKeySchema)
    @blp.response(201, CreatedApiKeySchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create an API key

        Needs `api-keys:write`. The response holds the `key` itself, shown this once only: store it
        now. A key cannot grant scopes its creator lacks (403); `tenants:*` scopes need a platform
        key, and unknown scopes or a past `expires_at` are 422.

        `application` (a `client_id` of this tenant) restricts the key to that application: it
        may then call only the operations about that client (`/clients/{client_id}` and its
        secret rotation, within its scopes) and gets 403 everywhere else. Deleting the client
        deletes the keys restricted to it. The client is looked up in the tenant the new key
        belongs to (for a platform caller, the one named by `X-Tenant-Id`); an unknown client or
        another tenant's is 422.
        """
        current = caller()
        wanted = tenant_id()
        minted = api_keys.create(
            data["name"],
            data["scopes"],
            tenant_id=wanted,
            expires_at=data.get("expires_at"),
            client_id=data.get("application"),
            actor=current.actor,
        )
        if not current.has("*") and not set(minted.record.scopes) <= current.scopes:
            raise errors.Forbidden("A key cannot grant scopes its creator lacks")
        db.session.commit()
        fields = ApiKeySchema().fields
        return {"key": minted.key, **{name: getattr(minted.record, name) for name in fields}}


@blp.route("/<key_id>")
class ApiKeyItem(MethodView):
    @require_scope("api-keys:read")
    @blp.response(200, ApiKeySchema)
    def get(self, key_id: str) -> ApiKey:
        """Get an API key

        Needs `api-keys:read`. The key itself is never shown, only its `prefix`. 404 for an unknown
        id or a key of another tenant.
        """
        return _get(key_id)

    @require_scope("api-keys:delete")
    @blp.response(204)
    def delete(self, key_id: str) -> None:
        """Revoke an API key

        Needs `api-keys:delete`. The key stops working at once and stays listed with `revoked_at`;
        revoking it again is a no-op. 404 for an unknown id or a key of another tenant.
        """
        api_keys.revoke(_get(key_id), actor=caller().actor)
        db.session.commit()
