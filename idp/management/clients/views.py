"""/management/v1/clients: list, register (the secret is shown once), read, change, delete,
rotate the secret. Clients are addressed by their public OAuth client_id.

The item routes concern one application: an API key restricted to it may call them (for that
client_id only, within its scopes); the list and create routes refuse restricted keys."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from idp.extensions import db
from idp.management import PREFIX
from idp.management.auth import caller
from idp.management.auth import require_scope
from idp.management.auth import tenant_id
from idp.management.clients.schemas import ClientCreateSchema
from idp.management.clients.schemas import ClientPageSchema
from idp.management.clients.schemas import ClientPatchSchema
from idp.management.clients.schemas import ClientQuerySchema
from idp.management.clients.schemas import ClientSchema
from idp.management.clients.schemas import ClientSecretSchema
from idp.management.clients.schemas import ClientWithSecretSchema
from idp.models import Client
from idp.services import clients
from idp.services.clients import RegisteredClient
from idp.services.keyset import Page

blp = Blueprint(
    "clients",
    __name__,
    url_prefix=f"{PREFIX}/clients",
    description="OAuth 2.0 / OpenID Connect clients (applications)",
)


def _with_secret(registered: RegisteredClient) -> dict[str, Any]:
    """The client plus its new secret, when one was issued (shown this once only)."""
    attributes = [f.attribute or name for name, f in ClientSchema().fields.items()]
    shown = {name: getattr(registered.client, name) for name in attributes}
    if registered.client_secret:
        shown["client_secret"] = registered.client_secret
    return shown


@blp.route("")
class Clients(MethodView):
    @require_scope("clients:read")
    @blp.arguments(ClientQuerySchema, location="query")
    @blp.response(200, ClientPageSchema)
    def get(self, query: dict[str, Any]) -> Page[Client]:
        """List clients

        Needs `clients:read`. Newest first, paged by `limit` plus `cursor` (the previous page's
        `next_cursor`) or `offset`, not both; `search` filters by name prefix, ignoring case.
        Secrets are never shown. Keys restricted to an application get 403.
        """
        return clients.list_clients(tenant_id(), **query)

    @require_scope("clients:write")
    @blp.arguments(ClientCreateSchema)
    @blp.response(201, ClientWithSecretSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Register a client

        Needs `clients:write`. The public `client_id` is generated; for the secret auth methods the
        response holds `client_secret`, shown this once only. Invalid metadata (redirect URIs, auth
        method, grant types, lifetimes, ...) is 422 naming each field. Keys restricted to an
        application get 403.
        """
        registered = clients.create(tenant_id(), actor=caller().actor, **data)
        db.session.commit()
        return _with_secret(registered)


@blp.route("/<client_id>")
class ClientItem(MethodView):
    @require_scope("clients:read", application_param="client_id")
    @blp.response(200, ClientSchema)
    def get(self, client_id: str) -> Client:
        """Get a client

        Needs `clients:read`. Addressed by its public `client_id`; the secret is never shown.
        404 for an unknown client or one of another tenant. A key restricted to an application
        may read that client only (403 for any other).
        """
        return clients.get(tenant_id(), client_id)

    @require_scope("clients:write", application_param="client_id")
    @blp.arguments(ClientPatchSchema)
    @blp.response(200, ClientWithSecretSchema)
    def patch(self, changes: dict[str, Any], client_id: str) -> dict[str, Any]:
        """Update a client

        Needs `clients:write`. Only the fields sent change, checked under the rules of create (422).
        A `client_secret` is returned, once, only when the new auth method needs a secret the
        client did not have; 404 for a client of another tenant. A key restricted to an
        application may change that client only (403 for any other).
        """
        client = clients.get(tenant_id(), client_id)
        registered = clients.update(client, actor=caller().actor, **changes)
        db.session.commit()
        return _with_secret(registered)

    @require_scope("clients:delete", application_param="client_id")
    @blp.response(204)
    def delete(self, client_id: str) -> None:
        """Delete a client

        Needs `clients:delete`. Its grants, codes, tokens and consents are deleted with it, so its
        tokens stop working at once, and so do the API keys restricted to it (they are deleted
        with it). 404 for a client of another tenant. A key restricted to an application may
        delete that client only (403 for any other).
        """
        clients.delete(clients.get(tenant_id(), client_id), actor=caller().actor)
        db.session.commit()


@blp.route("/<client_id>/secret")
class ClientSecret(MethodView):
    @require_scope("clients:write", application_param="client_id")
    @blp.response(200, ClientSecretSchema)
    def post(self, client_id: str) -> dict[str, str]:
        """Rotate a client's secret

        Needs `clients:write`. Issues a new `client_secret`, shown this once only; the old secret
        stops working at once. 422 for public clients and clients that authenticate without a
        secret; 404 for a client of another tenant. A key restricted to an application may
        rotate that client's secret only (403 for any other).
        """
        client = clients.get(tenant_id(), client_id)
        secret = clients.rotate_secret(client, actor=caller().actor)
        db.session.commit()
        return {"client_id": client.client_id, "client_secret": secret}
