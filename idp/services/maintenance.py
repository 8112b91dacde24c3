"""Housekeeping: delete bookkeeping rows nobody can use any more (run from cron)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Delete
from sqlalchemy import delete
from sqlalchemy import or_
from sqlalchemy import text

from idp import clock
from idp.extensions import db
from idp.models import ActionToken
from idp.models import AuthorizationCode
from idp.models import BackchannelLogout
from idp.models import PushedAuthorizationRequest
from idp.models import RefreshToken
from idp.services import access_tokens
from idp.services import client_assertions
from idp.services import outgoing_mail
from idp.services import webauthn_ceremonies

# Used codes are kept this long after expiry so a late replay is still recognised (and
# revokes the tokens issued from it) rather than looking like an unknown code.
CODE_RETENTION = timedelta(days=1)
OUTBOX_RETENTION = timedelta(days=7)  # finished back-channel deliveries, for support questions


def _delete(statement: Delete) -> int:
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_expired() -> dict[str, int]:
    """Returns how many rows of each kind were deleted."""
    now = clock.now()
    return {
        "revoked_access_tokens": access_tokens.purge_expired(),
        "used_client_assertions": client_assertions.purge_expired(),
        "webauthn_challenges": webauthn_ceremonies.purge_expired_challenges(),
        "authorization_codes": _delete(
            delete(AuthorizationCode).where(AuthorizationCode.expires_at <= now - CODE_RETENTION)
        ),
        "pushed_authorization_requests": _delete(
            delete(PushedAuthorizationRequest).where(PushedAuthorizationRequest.expires_at <= now)
        ),
        "refresh_tokens": _delete(delete(RefreshToken).where(RefreshToken.expires_at <= now)),
        # Mailed links and codes, once used, superseded or expired; nothing refers to them.
        "action_tokens": _delete(
            delete(ActionToken).where(
                or_(ActionToken.used_at.is_not(None), ActionToken.expires_at <= now)
            )
        ),
        "backchannel_logouts": _delete(
            delete(BackchannelLogout).where(
                or_(
                    BackchannelLogout.delivered_at.is_not(None),
                    BackchannelLogout.failed_at.is_not(None),
                ),
                BackchannelLogout.created_at <= now - OUTBOX_RETENTION,
            )
        ),
        # Sent mail is deleted at once; mail given up on is kept a while for the operators.
        "outgoing_mail": outgoing_mail.purge_failed(),
    }


def refresh_statistics() -> None:
    """ANALYZE: the query planner needs row statistics to prefer a selective index (a prefix
    search) over the one that matches the ORDER BY; measured 128 ms -> 0.2 ms on 100,000
    users with SQLite. PostgreSQL's autovacuum does this too; running it again is cheap."""
    db.session.execute(text("ANALYZE"))
