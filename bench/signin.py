"""Benchmark the hosted sign-in steps (Flask's test client, SQLite, production Argon2id cost).

    .venv/bin/python bench/signin.py [--repeat 30]

Times, per request, and counts the SQL statements each one runs:
  - password sign-in, no second factor      POST /login
  - the password step of an MFA user        POST /login          (-> /login/mfa)
  - the authenticator-code step             POST /login/mfa method=totp
  - a right backup code (10 unused)        POST /login/mfa method=backup_code
  - a wrong backup code (10 unused)        POST /login/mfa method=backup_code
and prints p50/p99 in ms. The clock moves 30 s between TOTP sign-ins (no code works twice).
Not a test: figures go in notes.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyotp
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from idp import clock  # noqa: E402
from idp import create_app  # noqa: E402
from idp.cli import initialize  # noqa: E402
from idp.config import Settings  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.services import audit  # noqa: E402
from idp.services import backup_codes  # noqa: E402
from idp.services import tenants  # noqa: E402
from idp.services import totp  # noqa: E402
from idp.services import users  # noqa: E402

PASSWORD = "bench correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

_real_now = clock.now
_offset = timedelta()


def _shifted_now():  # type: ignore[no-untyped-def]
    return _real_now() + _offset


def advance_clock(seconds: int) -> None:
    global _offset
    _offset += timedelta(seconds=seconds)


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: object) -> None:
        self.count += 1


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(name: str, samples: list[float], queries: list[int]) -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"{name:44s} p50 {statistics.median(ms):7.1f} ms   p99 {percentile(ms, 0.99):7.1f} ms"
        f"   SQL statements {statistics.median(queries):.0f}"
    )


def measure(
    counter: QueryCounter, prepare: Callable[[], object], call: Callable[[object], object], n: int
) -> tuple[list[float], list[int]]:
    samples, queries = [], []
    for _ in range(n):
        state = prepare()
        counter.count = 0
        began = time.perf_counter()
        call(state)
        samples.append(time.perf_counter() - began)
        queries.append(counter.count)
    return samples, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    clock.now = _shifted_now  # type: ignore[assignment]

    with tempfile.TemporaryDirectory(prefix="idp-bench-") as instance:
        settings = Settings(
            issuer="http://localhost",
            instance_path=instance,
            secret_key="bench-secret",
            rate_limits_enabled=False,
            lockout_threshold=10**6,  # the wrong-code rounds must not lock the user
        )
        app = create_app(settings)
        counter = QueryCounter()
        with app.app_context():
            initialize()
            event.listen(db.engine, "before_cursor_execute", counter)
            tenant_id = tenants.ensure_default().id
            users.create(tenant_id, "plain@example.com", password=PASSWORD)
            mfa_user = users.create(
                tenant_id, "mfa@example.com", password=PASSWORD, email_verified=True
            )
            setup = totp.begin_setup(mfa_user, issuer_name="bench", actor=audit.SYSTEM)
            totp.confirm(mfa_user, pyotp.TOTP(setup.secret).at(clock.now()), actor=audit.SYSTEM)
            db.session.commit()
            secret = setup.secret

        http = app.test_client()

        def login_form() -> str:
            http.delete_cookie("idp_sso")
            page = http.get("/login")
            return CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]

        def post_password(email: str) -> Callable[[object], object]:
            def call(token: object) -> None:
                response = http.post(
                    "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
                )
                assert response.status_code == 303, response.text

            return call

        report(
            "password sign-in (no second factor)",
            *measure(counter, login_form, post_password("plain@example.com"), args.repeat),
        )
        report(
            "password step of an MFA user",
            *measure(counter, login_form, post_password("mfa@example.com"), args.repeat),
        )

        def at_mfa_page() -> str:
            token = login_form()
            post_password("mfa@example.com")(token)
            page = http.get("/login/mfa")
            return CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]

        def post_code(
            method: str, code: Callable[[], str], expect: int
        ) -> Callable[[object], object]:
            def call(token: object) -> None:
                response = http.post(
                    "/login/mfa", data={"method": method, "code": code(), "csrf_token": token}
                )
                assert response.status_code == expect, (response.status_code, response.text)

            return call

        def next_totp() -> str:
            advance_clock(30)
            return pyotp.TOTP(secret).at(clock.now())

        report(
            "authenticator-code step",
            *measure(counter, at_mfa_page, post_code("totp", next_totp, 303), args.repeat),
        )
        fresh: list[str] = []

        def new_codes_then_mfa_page() -> str:
            """Ten fresh unused codes, so every round checks against all ten."""
            with app.app_context():
                user = users.find_by_email(tenant_id, "mfa@example.com")
                assert user is not None
                fresh[:] = backup_codes.regenerate(user, actor=audit.SYSTEM)
                db.session.commit()
            return at_mfa_page()

        report(
            "right backup code (10 unused)",
            *measure(
                counter,
                new_codes_then_mfa_page,
                post_code("backup_code", lambda: fresh[-1], 303),
                args.repeat,
            ),
        )
        report(
            "wrong backup code (10 unused)",
            *measure(
                counter,
                new_codes_then_mfa_page,
                post_code("backup_code", lambda: "23456-789ab", 200),
                args.repeat,
            ),
        )


if __name__ == "__main__":
    main()
