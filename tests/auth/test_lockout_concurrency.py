"""Concurrent sign-in attempts against one account take turns (PostgreSQL row lock), so a
burst fired the moment a lock ends gets one try, not one per request."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from idp.extensions import db
from idp.models import User
from idp.services import audit
from idp.services import lockout
from tests.factories import make_user

POLICY = lockout.LockoutPolicy(threshold=5, base_seconds=60, max_seconds=3600)


def test_a_second_attempt_waits_for_the_first_and_sees_its_failure(app: Flask):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("row locks need PostgreSQL (SQLite lets one writer commit at a time)")
    user = make_user(app)
    with app.app_context():
        db.session.get(User, user.id).failed_login_count = POLICY.threshold - 1
        db.session.commit()
    first_holds, first_may_fail = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with app.app_context():
            row = db.session.get(User, user.id)
            lockout.ensure_not_locked(row)  # passes, and holds the row
            first_holds.set()
            first_may_fail.wait(10)
            lockout.record_failure(row, actor=audit.SYSTEM, step="totp", policy=POLICY)
            db.session.commit()

    def second() -> None:
        with app.app_context():
            row = db.session.get(User, user.id)
            try:
                lockout.ensure_not_locked(row)  # must wait for the first, then see the lock
                outcome["second"] = "allowed"
            except lockout.AccountLocked:
                outcome["second"] = "locked"
            db.session.rollback()

    one = threading.Thread(target=first)
    one.start()
    assert first_holds.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    assert two.is_alive(), "the second attempt did not wait for the first"
    first_may_fail.set()
    one.join(10)
    two.join(10)

    assert outcome["second"] == "locked"
