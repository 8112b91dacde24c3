"""Runs the back-channel logout outbox (services.logout) and owns its units of work.

`deliver_due()` sends every due row once: `idp logout deliver` calls it (cron, after a restart).
`start()` runs it in a daemon thread right after a logout has committed, so the user's response
never waits for a relying party; the thread keeps retrying that logout's rows with backoff for
at most BACKGROUND_BUDGET seconds, and sends any other due rows on the way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass

from flask import Flask

from idp import clock
from idp import runtime
from idp.extensions import db
from idp.outbound import check_destination
from idp.services import logout

log = logging.getLogger(__name__)

BACKGROUND_BUDGET = 60.0  # seconds one logout's thread keeps retrying its rows
MIN_WAIT = 0.2  # seconds between two passes of the thread


@dataclass(frozen=True)
class Report:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def _public_poster(allow_internal: bool) -> logout.Poster:
    """logout.post, refusing non-public destinations (see idp.outbound)."""

    def post(url: str, data: dict[str, str], timeout: float) -> int:
        check_destination(url, allow_internal=allow_internal)
        return logout.post(url, data, timeout)  # looked up now: tests may replace it

    return post


def deliver_due(*, poster: logout.Poster | None = None) -> Report:
    """One pass over the due rows: claim them (committed, so other workers skip them), then
    POST each one with no transaction open and commit its result."""
    deliveries = logout.claim_due()
    db.session.commit()
    poster = poster or _public_poster(runtime.settings().internal_callbacks_allowed)
    delivered = retrying = failed = 0
    for delivery in deliveries:
        outcome = logout.send(delivery, poster=poster)
        row = logout.record(delivery, outcome)
        db.session.commit()
        if outcome.delivered:
            delivered += 1
        elif row is not None and row.failed_at is not None:
            failed += 1
        else:
            retrying += 1
    return Report(delivered, retrying, failed)


def start(app: Flask, row_ids: Collection[str]) -> threading.Thread:
    """Deliver `row_ids` (and whatever else is due) in the background, after the commit."""
    thread = threading.Thread(
        target=_run, args=(app, list(row_ids)), name="backchannel-logout", daemon=True
    )
    thread.start()
    return thread


def _run(app: Flask, row_ids: list[str], budget: float = BACKGROUND_BUDGET) -> None:
    deadline = time.monotonic() + budget
    with app.app_context():
        try:
            while True:
                deliver_due()
                due = logout.next_attempt_at(row_ids)
                db.session.commit()  # no transaction stays open while sleeping
                remaining = deadline - time.monotonic()
                if due is None or remaining <= 0:
                    return
                wait = (due - clock.now()).total_seconds()
                time.sleep(min(max(wait, MIN_WAIT), remaining))
        except Exception:
            db.session.rollback()
            log.exception("back-channel logout delivery stopped; `idp logout deliver` resumes it")
