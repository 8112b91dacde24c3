"""OpenID Connect Back-Channel Logout 1.0: logout tokens, their outbox, and delivering them.

When a browser session ends, every client that received tokens through it and registered a
`backchannel_logout_uri` gets one signed Logout Token (§2.4). The tokens are written to the
`backchannel_logouts` outbox in the logout's own transaction, then POSTed (§2.5) by whoever runs
the outbox: a background thread after the logout, or `idp logout deliver`. A row is claimed with
a lease before it is sent, so two workers never send it at once; a failure is retried with
exponential backoff and given up after MAX_ATTEMPTS.

Signing and subject identifiers belong to the OAuth layer (STYLE rule 7), so callers pass them
in: `sign` is `tokens.sign`, `subject_for` is the function that decides the `sub` a client sees.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol
from urllib.parse import urlencode
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy import update

from idp import clock
from idp import security
from idp.extensions import db
from idp.models import BackchannelLogout
from idp.models import BrowserSession
from idp.models import Client
from idp.models import Grant
from idp.models import User
from idp.services import audit
from idp.services import sessions

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYP = "logout+jwt"
LOGOUT_TOKEN_LIFETIME = timedelta(minutes=2)
MAX_ATTEMPTS = 5
FIRST_RETRY_DELAY = timedelta(seconds=2)  # then 4 s, 8 s, 16 s
TIMEOUT = 5.0  # seconds per POST
# A claimed row is left alone by other workers this long: longer than one POST can take.
LEASE = timedelta(seconds=30)
DELIVERED_STATUSES = (200, 204)  # §2.8: 200; some frameworks answer 204 for an empty body
MAX_ERROR_LENGTH = 200


class Signer(Protocol):
    def __call__(self, claims: dict[str, Any], *, alg: str, typ: str) -> str: ...


SubjectFor = Callable[[User, Client], str]
Poster = Callable[[str, dict[str, str], float], int]


@dataclass(frozen=True)
class Delivery:
    """A claimed outbox row, as plain values, so no transaction stays open during the POST."""

    id: str
    uri: str
    token: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    error: str | None = None


# --- creating logout tokens --------------------------------------------------------------------


def logout_token_claims(*, issuer: str, client_id: str, sub: str, sid: str) -> dict[str, Any]:
    """§2.4: iss, aud, iat, exp, jti, sub and sid, and the back-channel event; never a nonce."""
    now = clock.epoch()
    return {
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + int(LOGOUT_TOKEN_LIFETIME.total_seconds()),
        "jti": security.random_token(16),
        "sub": sub,
        "sid": sid,
        "events": {BACKCHANNEL_EVENT: {}},
    }


def clients_to_notify(session: BrowserSession) -> list[Client]:
    """Active clients with a back-channel URI that got a grant through this session, whether
    the grant was revoked with the session or (offline_access) outlives it."""
    granted = select(Grant.client_id).where(
        Grant.session_id == session.id, Grant.tenant_id == session.tenant_id
    )
    query = (
        select(Client)
        .where(
            Client.id.in_(granted),
            Client.backchannel_logout_uri.is_not(None),
            Client.is_active.is_(True),
        )
        .order_by(Client.id)
    )
    return list(db.session.scalars(query))


def enqueue(
    session: BrowserSession, *, issuer: str, sign: Signer, subject_for: SubjectFor
) -> list[BackchannelLogout]:
    """Write one signed logout token per client to notify into the outbox (flushed, not
    committed: the caller commits it with the logout itself)."""
    user = db.session.get(User, session.user_id)
    if user is None:
        return []
    rows = []
    now = clock.now()
    for client in clients_to_notify(session):
        claims = logout_token_claims(
            issuer=issuer, client_id=client.client_id, sub=subject_for(user, client), sid=session.id
        )
        token = sign(claims, alg=client.id_token_signed_response_alg, typ=LOGOUT_TOKEN_TYP)
        row = BackchannelLogout(
            client_id=client.id,
            logout_uri=str(client.backchannel_logout_uri),
            logout_token=token,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    return rows


def end_session(
    session: BrowserSession,
    *,
    actor: audit.Actor,
    issuer: str,
    sign: Signer,
    subject_for: SubjectFor,
    reason: str = "logout",
) -> list[BackchannelLogout]:
    """End the session (its grants are revoked, offline_access ones excepted) and queue the
    logout tokens for the clients to notify, in the caller's one transaction."""
    sessions.end(session, actor=actor, reason=reason)
    return enqueue(session, issuer=issuer, sign=sign, subject_for=subject_for)


# --- running the outbox ------------------------------------------------------------------------


def _unfinished() -> Any:
    return BackchannelLogout.delivered_at.is_(None) & BackchannelLogout.failed_at.is_(None)


def claim_due(*, limit: int = 50) -> list[Delivery]:
    """Take up to `limit` rows whose next attempt is due, each with an atomic conditional
    update (count the attempt, push next_attempt_at out by LEASE): of two workers, one wins."""
    now = clock.now()
    candidates = db.session.scalars(
        select(BackchannelLogout)
        .where(_unfinished(), BackchannelLogout.next_attempt_at <= now)
        .order_by(BackchannelLogout.next_attempt_at)
        .limit(limit)
    ).all()
    claimed = []
    for row in candidates:
        if row.created_at + LOGOUT_TOKEN_LIFETIME <= now:
            # The RP would refuse the expired token (spec §2.6): give up rather than send it.
            row.failed_at = now
            row.last_error = "logout token expired before it could be delivered"
            _audit_given_up(row)
            continue
        won = db.session.execute(  # type: ignore[attr-defined]
            update(BackchannelLogout)
            .where(
                BackchannelLogout.id == row.id,
                BackchannelLogout.attempts == row.attempts,
                BackchannelLogout.next_attempt_at <= now,
                _unfinished(),
            )
            .values(attempts=row.attempts + 1, next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won:
            claimed.append(Delivery(row.id, row.logout_uri, row.logout_token, row.attempts + 1))
    db.session.flush()
    return claimed


def send(delivery: Delivery, *, poster: Poster | None = None) -> Outcome:
    """§2.5: POST logout_token as a form; 200 (or 204) means the RP logged the user out."""
    send_post = poster or post  # looked up at call time, so tests can replace `post`
    try:
        status = send_post(delivery.uri, {"logout_token": delivery.token}, TIMEOUT)
    except Exception as exc:  # any failure to reach the RP is a failed attempt
        return Outcome(False, _describe(exc, delivery.token))
    if status in DELIVERED_STATUSES:
        return Outcome(True)
    return Outcome(False, f"HTTP {status}")


def record(delivery: Delivery, outcome: Outcome) -> BackchannelLogout | None:
    """Mark the row delivered, or schedule its retry (2 s, 4 s, 8 s, ...), or give it up."""
    row = db.session.get(BackchannelLogout, delivery.id, populate_existing=True)
    if row is None:  # the client was deleted meanwhile
        return None
    now = clock.now()
    if outcome.delivered:
        row.delivered_at = now
        row.last_error = None
    else:
        row.last_error = (outcome.error or "failed")[:MAX_ERROR_LENGTH]
        if row.attempts >= MAX_ATTEMPTS:
            row.failed_at = now
            _audit_given_up(row)
        else:
            row.next_attempt_at = now + retry_delay(row.attempts)
    db.session.flush()
    return row


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failed attempt."""
    return FIRST_RETRY_DELAY * (1 << max(attempts - 1, 0))


def next_attempt_at(row_ids: Collection[str]) -> datetime | None:
    """When the earliest unfinished row of `row_ids` is due again; None once all are done."""
    if not row_ids:
        return None
    due: datetime | None = db.session.scalar(
        select(BackchannelLogout.next_attempt_at)
        .where(BackchannelLogout.id.in_(list(row_ids)), _unfinished())
        .order_by(BackchannelLogout.next_attempt_at)
        .limit(1)
    )
    return due


def _audit_given_up(row: BackchannelLogout) -> None:
    client = db.session.get(Client, row.client_id)
    audit.record(
        "backchannel_logout.failed",
        status="failure",
        tenant_id=client.tenant_id if client else None,
        client_id=client.client_id if client else None,
        target_type="backchannel_logout",
        target_id=row.id,
        attempts=row.attempts,
        error=row.last_error,
    )


def _describe(exc: Exception, token: str) -> str:
    """A short reason for `last_error`, never carrying the token itself."""
    reason = getattr(exc, "reason", None) or exc
    text = f"{type(exc).__name__}: {reason}".replace(token, "[logout_token]")
    return text.replace("\r", " ").replace("\n", " ")[:MAX_ERROR_LENGTH]


# --- HTTP ----------------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery: the token is only ever sent to the registered URI."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, data: dict[str, str], timeout: float) -> int:
    """POST `data` as application/x-www-form-urlencoded; return the HTTP status."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=urlencode(data).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(4096)
            return int(response.status)
    except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx
        exc.close()
        return int(exc.code)
