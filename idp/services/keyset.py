"""Pages of a tenant-scoped query: `limit` plus an opaque keyset `cursor` or an `offset`
(DESIGN §5). Rows come newest first, ordered by (a timestamp, the primary key)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Generic
from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from idp import clock
from idp import errors
from idp.extensions import db

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    next_cursor: str | None


def encode_cursor(at: datetime, key: str | int) -> str:
    raw = json.dumps([at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type) -> tuple[datetime, Any]:
    bad = errors.InvalidInput("invalid cursor", {"cursor": ["not a cursor from this list"]})
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, key = json.loads(raw)
        at = clock.as_utc(datetime.fromisoformat(at_text))
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise bad from None
    if type(key) is not key_type:
        raise bad
    return at, key


def paginate(
    query: Select[Any],
    *,
    at: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[Any],
    limit: int,
    cursor: str | None = None,
    offset: int | None = None,
) -> Page[Any]:
    """Newest first. `total` counts every row of `query`, whichever page this is."""
    if cursor is not None and offset is not None:
        raise errors.InvalidInput(
            "cursor and offset together", {"cursor": ["give cursor or offset, not both"]}
        )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(at.desc(), key.desc())
    if cursor is not None:
        last_at, last_key = decode_cursor(cursor, key.type.python_type)
        query = query.where(or_(at < last_at, and_(at == last_at, key < last_key)))
    if offset:
        query = query.offset(offset)
    rows = list(db.session.scalars(query.limit(limit + 1)))
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        tail = rows[-1]
        following = encode_cursor(getattr(tail, at.key), getattr(tail, key.key))
    return Page(rows, total, following)
