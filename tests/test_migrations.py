"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from idp.extensions import db

# Alembic cannot reflect expression indexes on SQLite; the next test checks that one by name.
EXPRESSION_INDEX_WARNINGS = [
    "ignore:Skipped unsupported reflection of expression-based index",
    "ignore:autogenerate skipping metadata-specified expression-based index",
]


@pytest.mark.filterwarnings(*EXPRESSION_INDEX_WARNINGS)
def test_migrated_schema_matches_the_models(app):
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn)
            diff = compare_metadata(context, db.metadata)
    assert diff == []


@pytest.mark.filterwarnings(*EXPRESSION_INDEX_WARNINGS)
def test_user_prefix_search_indexes_exist(app):
    with app.app_context():
        names = {index["name"] for index in inspect(db.engine).get_indexes("users")}
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                names |= {
                    row[0]
                    for row in conn.exec_driver_sql(
                        "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='users'"
                    )
                }
    assert {"ix_users_tenant_email_prefix", "ix_users_tenant_name_prefix"} <= names
