"""Benchmark GET /management/v1/users over a large tenant (Flask's test client, SQLite).

    .venv/bin/python bench/users_list.py [--users 100000] [--repeat 20]

It bulk-inserts the users with SQLAlchemy core (no password hashes), then times:
  - the first page                          GET /users?limit=50
  - walking 50 pages with the cursor        GET /users?limit=50&cursor=...
  - a deep offset page                      GET /users?limit=50&offset=<users - 100>
  - a search prefix                         GET /users?limit=50&search=user1234
and prints p50/p99 per page in ms. Not a test: figures go in notes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from idp import create_app  # noqa: E402
from idp.cli import initialize  # noqa: E402
from idp.config import Settings  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.models import User  # noqa: E402
from idp.services import api_keys  # noqa: E402
from idp.services import maintenance  # noqa: E402
from idp.services import tenants  # noqa: E402

URL = "/management/v1/users"
BATCH = 10_000


def populate(count: int) -> str:
    """Insert `count` users into the default tenant; return its id."""
    tenant_id = tenants.ensure_default().id
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for first in range(0, count, BATCH):
        rows = []
        for n in range(first, min(first + BATCH, count)):
            email = f"user{n:06d}@example.com"
            at = start + timedelta(seconds=n)
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "tenant_id": tenant_id,
                    "email": email,
                    "email_normalized": email,
                    "email_verified": n % 2 == 0,
                    "password_hash": None,
                    "name": f"User {n}",
                    "roles": ["admin"] if n % 100 == 0 else [],
                    "user_metadata": {},
                    "is_active": True,
                    "phone_number_verified": False,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        db.session.execute(User.__table__.insert(), _columns(rows))
    db.session.commit()
    return tenant_id


def _columns(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    # the metadata attribute maps to the "metadata" column
    return [{("metadata" if k == "user_metadata" else k): v for k, v in r.items()} for r in rows]


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def report(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(
        f"{label:<34} n={len(samples):<4} "
        f"p50={statistics.median(ordered):7.1f} ms  p99={p99:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE (before/after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            instance_path=tmp,
            secret_key="bench-secret-key-not-for-production",
            argon2_time_cost=1,
            argon2_memory_cost=1024,
        )
        app = create_app(settings)
        with app.app_context():
            initialize()
            began = time.perf_counter()
            populate(args.users)
            print(f"inserted {args.users} users in {time.perf_counter() - began:.1f} s")
            key = api_keys.create("bench", ["users:read"], tenant_id=None).key
            db.session.commit()
            if not args.no_analyze:  # what `idp purge` (cron) or a restart does
                maintenance.refresh_statistics()
                db.session.commit()
        http = app.test_client()
        headers = {"Authorization": f"Bearer {key}"}

        def get(**params: object) -> dict[str, object]:
            response = http.get(URL, query_string={"limit": 50, **params}, headers=headers)
            assert response.status_code == 200, response.text
            body: dict[str, object] = response.get_json()
            return body

        get()  # warm up
        report("first page", timed(get, args.repeat))

        walk: list[float] = []
        for _ in range(max(1, args.repeat // 10)):
            cursor = None
            for _page in range(50):
                began = time.perf_counter()
                body = get(**({"cursor": cursor} if cursor else {}))
                walk.append((time.perf_counter() - began) * 1000)
                cursor = body["next_cursor"]
                assert cursor
        report("cursor walk, 50 pages (per page)", walk)

        deep = max(0, args.users - 100)
        report(f"offset={deep}", timed(lambda: get(offset=deep), args.repeat))
        report("search=user1234 (prefix)", timed(lambda: get(search="user1234"), args.repeat))
        report(
            "search=user1234&email_verified",
            timed(lambda: get(search="user1234", email_verified="true"), args.repeat),
        )
        report("role=admin", timed(lambda: get(role="admin"), args.repeat))
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
