"""The one source of time. Tests replace ``clock.now`` to move it (STYLE rule 9)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime


def now() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def epoch() -> int:
    """Current time in whole seconds since the epoch, for JWT claims."""
    return int(now().timestamp())


def as_utc(value: datetime) -> datetime:
    """Database drivers may hand back naive datetimes (SQLite): read them as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
