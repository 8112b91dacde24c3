"""/account/v1/identities: the upstream accounts linked to the signed-in user; unlink one,
never the last way to sign in (services/identities.py)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema
from marshmallow import fields

from idp.account import PREFIX
from idp.account.auth import current
from idp.extensions import db
from idp.services import identities

blp = Blueprint("account_identities", __name__, url_prefix=PREFIX, description="Linked identities")


class IdentitySchema(Schema):
    id = fields.String(required=True)
    provider = fields.String(required=True, metadata={"description": "e.g. google, microsoft"})
    email = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True, metadata={"description": "Linked at"})
    last_login_at = fields.AwareDateTime(required=True, allow_none=True)


class IdentityListSchema(Schema):
    items = fields.List(fields.Nested(IdentitySchema), required=True)
    total = fields.Integer(required=True)


@blp.route("/identities")
class Identities(MethodView):
    @blp.response(200, IdentityListSchema)
    def get(self) -> dict[str, Any]:
        """List your linked identities

        The upstream accounts (Google, Microsoft, other OpenID providers) you can sign in
        with, oldest link first.
        """
        found = identities.for_user(current().user)
        return {"items": found, "total": len(found)}


@blp.route("/identities/<identity_id>")
class IdentityItem(MethodView):
    @blp.response(204)
    def delete(self, identity_id: str) -> None:
        """Unlink an identity

        409 when it is your last way to sign in (no password, no passkey, no other linked
        identity): set a password or add a passkey first. 404 if it is not yours.
        """
        caller = current()
        identity = identities.get(caller.user, identity_id)
        identities.unlink(caller.user, identity, actor=caller.actor)
        db.session.commit()
