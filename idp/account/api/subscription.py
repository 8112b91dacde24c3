"""/account/v1/subscription: the signed-in user's subscription to the calling application."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from idp import errors
from idp.account import PREFIX
from idp.account.auth import current
from idp.services import clients
from idp.services import subscriptions

blp = Blueprint("account_subscription", __name__, url_prefix=PREFIX, description="Subscription")


class SubscriptionQuerySchema(Schema):
    application = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "client_id of the application; only when calling with the session "
            "cookie (an access token names its own application)"
        },
    )


class PlanSchema(Schema):
    id = fields.String(required=True)
    key = fields.String(required=True)
    name = fields.String(required=True)
    features = fields.List(fields.String(), required=True)


class SubscriptionSchema(Schema):
    application = fields.String(required=True, metadata={"description": "client_id"})
    plan = fields.Nested(PlanSchema, required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(subscriptions.STATUSES),
        metadata={"description": "`expired` once current_period_end has passed"},
    )
    current_period_end = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


@blp.route("/subscription")
class CurrentSubscription(MethodView):
    @blp.arguments(SubscriptionQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, SubscriptionSchema)
    @blp.alt_response(404, description="No subscription to this application")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The user's subscription to the calling application

        With an access token, the application is the token's client and `application` must
        be absent or name that same client; with the session cookie, `application` (a
        client_id) is required.
        """
        caller = current()
        wanted = query.get("application")
        if caller.client_id is not None and wanted not in (None, caller.client_id):
            raise errors.Forbidden("An access token reads only its own application's plan")
        client_id = caller.client_id or wanted
        if client_id is None:
            raise errors.InvalidInput(
                "application is required", {"application": ["required with the session"]}
            )
        client = clients.get_by_client_id(client_id)
        if client is None or client.tenant_id != caller.user.tenant_id:
            raise errors.NotFound("No such application")
        found = subscriptions.current(caller.user, client)
        if found is None:
            raise errors.NotFound("No subscription to this application")
        row = found.subscription
        return {
            "application": client.client_id,
            "plan": found.plan,
            "status": found.status,
            "current_period_end": row.current_period_end,
            "cancelled_at": row.cancelled_at,
            "created_at": row.created_at,
        }
