"""Shared fixtures: one app per test session on a migrated database, emptied between tests.

Set IDP_TEST_DATABASE_URL (e.g. postgresql+psycopg://root@127.0.0.1:5432/test) to run the same
suite on PostgreSQL; SQLite in a temporary folder is the default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from idp import clock
from idp import create_app
from idp import runtime
from idp.cli import initialize
from idp.config import Settings
from idp.extensions import db
from idp.extensions import limiter

PRESERVED_TABLES = {"signing_keys", "alembic_version"}


def _reset_postgres_schema(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    instance = tmp_path_factory.mktemp("instance")
    url = os.environ.get("IDP_TEST_DATABASE_URL") or None
    if url:
        _reset_postgres_schema(url)
    return Settings(
        issuer="http://localhost",
        database_url=url,
        instance_path=str(instance),
        secret_key="test-secret-key-not-for-production",
        argon2_time_cost=1,
        argon2_memory_cost=1024,
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    with app.app_context():
        initialize()  # runs the real migrations on an empty database
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def clean_database(app: Flask) -> Iterator[None]:
    """Every test starts with only the default tenant and the signing keys."""
    yield
    with app.app_context():
        db.session.rollback()
        for table in reversed(db.metadata.sorted_tables):
            if table.name not in PRESERVED_TABLES:
                db.session.execute(table.delete())
        db.session.execute(text("DELETE FROM signing_keys WHERE retired_at IS NOT NULL"))
        db.session.commit()
        initialize()
        runtime.keyring().invalidate()
        limiter.reset()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class FrozenClock:
    """Holds idp.clock still; `advance` moves it (no sleeping in tests)."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(clock, "now", frozen)
    return frozen
