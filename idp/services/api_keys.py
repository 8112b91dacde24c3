"""Management API keys: minted (shown once), verified by keyed hash, revoked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update

from idp import clock
from idp import errors
from idp import security
from idp.extensions import db
from idp.models import ApiKey
from idp.models import Client
from idp.services import audit
from idp.services import keyset

KEY_PREFIX = "idp_"
SCOPES = (
    "users:read", "users:write", "users:delete",
    "clients:read", "clients:write", "clients:delete",
    "api-keys:read", "api-keys:write", "api-keys:delete",
    "sessions:read", "sessions:write",
    "audit:read", "stats:read",
    "tenants:read", "tenants:write",
    "*",
)  # fmt: skip
# last_used_at is written at most this often per key, so a busy key costs no write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_KEY_LENGTH = 128


@dataclass
class MintedKey:
    record: ApiKey
    key: str  # the only copy; never stored


def create(
    name: str,
    scopes: list[str],
    *,
    tenant_id: str | None,
    expires_at: datetime | None = None,
    client_id: str | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> MintedKey:
    """`tenant_id=None` mints a platform key. `client_id` (a public OAuth client_id of the
    key's tenant) restricts the key to that application; a platform key cannot be restricted."""
    field_errors: dict[str, list[str]] = {}
    if not name.strip() or len(name) > 200:
        field_errors["name"] = ["must be 1-200 characters"]
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        field_errors["scopes"] = [f"unknown: {', '.join(unknown)}" if unknown else "required"]
    if tenant_id is not None and any(s.startswith("tenants:") for s in scopes):
        field_errors.setdefault("scopes", []).append("tenants:* needs a platform key")
    if expires_at is not None and expires_at <= clock.now():
        field_errors["expires_at"] = ["must be in the future"]
    application = _application(tenant_id, client_id) if client_id is not None else None
    if client_id is not None and tenant_id is None:
        field_errors["application"] = ["a platform key cannot be restricted to an application"]
    elif client_id is not None and application is None:
        field_errors["application"] = ["no such client in this tenant"]
    if field_errors:
        raise errors.InvalidInput("invalid API key", field_errors)
    key = KEY_PREFIX + security.random_token(32)
    record = ApiKey(
        tenant_id=tenant_id,
        name=name.strip(),
        prefix=key[:12],
        key_hash=security.hash_secret(key),
        scopes=sorted(set(scopes)),
        client_id=application.id if application is not None else None,
        expires_at=expires_at,
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "api_key.created",
        actor=actor,
        tenant_id=tenant_id,
        target_type="api_key",
        target_id=record.id,
        client_id=client_id,
        scopes=record.scopes,
        application=client_id,
    )
    return MintedKey(record, key)


def _application(tenant_id: str | None, client_id: str) -> Client | None:
    """The tenant's client by its public client_id; None for another tenant's or a platform key."""
    if tenant_id is None or not client_id or len(client_id) > 64:
        return None
    client: Client | None = db.session.scalar(
        select(Client).where(Client.client_id == client_id, Client.tenant_id == tenant_id)
    )
    return client


def authenticate(key: str) -> ApiKey | None:
    """The live key behind `key`, or None (unknown, expired, revoked). May write
    last_used_at: the caller commits."""
    if not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_LENGTH:
        return None
    record: ApiKey | None = db.session.scalar(
        select(ApiKey).where(ApiKey.key_hash == security.hash_secret(key))
    )
    now = clock.now()
    if record is None or record.revoked_at is not None:
        return None
    if record.expires_at is not None and record.expires_at <= now:
        return None
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == record.id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return record


def revoke(record: ApiKey, *, actor: audit.Actor) -> None:
    if record.revoked_at is None:
        record.revoked_at = clock.now()
        audit.record(
            "api_key.revoked",
            actor=actor,
            tenant_id=record.tenant_id,
            target_type="api_key",
            target_id=record.id,
        )


def list_keys(
    tenant_id: str | None, *, limit: int, cursor: str | None = None, offset: int | None = None
) -> keyset.Page[ApiKey]:
    """The keys of a tenant (or the platform keys for `None`), newest first."""
    owner = ApiKey.tenant_id.is_(None) if tenant_id is None else ApiKey.tenant_id == tenant_id
    return keyset.paginate(
        select(ApiKey).where(owner),
        at=ApiKey.created_at,
        key=ApiKey.id,
        limit=limit,
        cursor=cursor,
        offset=offset,
    )
