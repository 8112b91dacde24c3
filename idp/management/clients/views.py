"""/management/v1/clients: list, register (the secret is shown once), read, change, delete,
rotate the secret. Clients are addressed by their public OAuth client_id."""

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
        return clients.list_clients(tenant_id(), **query)

    @require_scope("clients:write")
    @blp.arguments(ClientCreateSchema)
    @blp.response(201, ClientWithSecretSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        registered = clients.create(tenant_id(), actor=caller().actor, **data)
        db.session.commit()
        return _with_secret(registered)


@blp.route("/<client_id>")
class ClientItem(MethodView):
    @require_scope("clients:read")
    @blp.response(200, ClientSchema)
    def get(self, client_id: str) -> Client:
        return clients.get(tenant_id(), client_id)

    @require_scope("clients:write")
    @blp.arguments(ClientPatchSchema)
    @blp.response(200, ClientWithSecretSchema)
    def patch(self, changes: dict[str, Any], client_id: str) -> dict[str, Any]:
        client = clients.get(tenant_id(), client_id)
        registered = clients.update(client, actor=caller().actor, **changes)
        db.session.commit()
        return _with_secret(registered)

    @require_scope("clients:delete")
    @blp.response(204)
    def delete(self, client_id: str) -> None:
        clients.delete(clients.get(tenant_id(), client_id), actor=caller().actor)
        db.session.commit()


@blp.route("/<client_id>/secret")
class ClientSecret(MethodView):
    @require_scope("clients:write")
    @blp.response(200, ClientSecretSchema)
    def post(self, client_id: str) -> dict[str, str]:
        client = clients.get(tenant_id(), client_id)
        secret = clients.rotate_secret(client, actor=caller().actor)
        db.session.commit()
        return {"client_id": client.client_id, "client_secret": secret}
