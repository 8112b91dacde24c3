"""Single use of client assertions (RFC 7523 §3 item 7, OIDC Core §9).

Each accepted `jti` is kept per client until its assertion expires; presenting it again before
then is a replay. The primary key (client_id, jti) decides between two concurrent requests.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.extensions import db
from idp.models import UsedClientAssertion

MAX_JTI_LENGTH = 255


def record_use(client_id: str, jti: str, expires_at: datetime) -> bool:
    """Remember this assertion; False when the client already used the `jti` and that
    assertion has not expired yet. The insert runs in a SAVEPOINT, so a refused replay leaves
    the caller's transaction usable."""
    if not jti or len(jti) > MAX_JTI_LENGTH:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(UsedClientAssertion(client_id=client_id, jti=jti, expires_at=expires_at))
    except IntegrityError:
        # The value may be used again once the assertion that carried it has expired.
        reused = db.session.execute(  # type: ignore[attr-defined]
            update(UsedClientAssertion)
            .where(
                UsedClientAssertion.client_id == client_id,
                UsedClientAssertion.jti == jti,
                UsedClientAssertion.expires_at <= clock.now(),
            )
            .values(expires_at=expires_at)
            .execution_options(synchronize_session=False)
        ).rowcount
        return bool(reused)
    return True


def purge_expired() -> int:
    """Forget assertions that can no longer be replayed (their `exp` has passed)."""
    result = db.session.execute(
        delete(UsedClientAssertion)
        .where(UsedClientAssertion.expires_at <= clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
