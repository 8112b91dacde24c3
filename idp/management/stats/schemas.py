from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields


class UserCountsSchema(Schema):
    total = fields.Integer()
    active = fields.Integer()
    verified = fields.Integer()
    mfa_enabled = fields.Integer(
        metadata={"description": "Users with a confirmed authenticator app or a passkey"}
    )


class WindowCountsSchema(Schema):
    """Counts over the last 1, 7 and 30 days."""

    day = fields.Integer(data_key="1d", attribute="1d")
    week = fields.Integer(data_key="7d", attribute="7d")
    month = fields.Integer(data_key="30d", attribute="30d")


class StatsSchema(Schema):
    users = fields.Nested(UserCountsSchema)
    sign_ins = fields.Nested(WindowCountsSchema)
    unique_users = fields.Nested(WindowCountsSchema)
