"""Schema pieces shared by several management resources."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

MAX_PAGE = 200


class PageQuerySchema(Schema):
    """`limit` plus `cursor` (keyset) or `offset` (DESIGN §5)."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.String(validate=validate.Length(max=200))
    offset = fields.Integer(validate=validate.Range(min=0, max=1_000_000))


class PageSchema(Schema):
    total = fields.Integer(required=True)
    next_cursor = fields.String(allow_none=True)
