"""Tenants: the default one always exists."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import errors
from idp.extensions import db
from idp.models import Tenant
from idp.models.tenant import DEFAULT_TENANT_SLUG
from idp.services import audit
from idp.services import keyset

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def get_by_slug(slug: str) -> Tenant:
    tenant: Tenant | None = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise errors.NotFound(f"tenant {slug} not found")
    return tenant


def ensure_default() -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == DEFAULT_TENANT_SLUG))
    if tenant is None:
        tenant = create(DEFAULT_TENANT_SLUG, "Default")
    return tenant


def create(slug: str, name: str, *, actor: audit.Actor = audit.SYSTEM) -> Tenant:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise errors.InvalidInput(
            "invalid slug", {"slug": ["lowercase letters, digits and hyphens, 1-63 characters"]}
        )
    if not name.strip() or len(name) > 200:
        raise errors.InvalidInput("invalid name", {"name": ["must be 1-200 characters"]})
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise errors.Conflict(f"tenant {slug} already exists")
    tenant = Tenant(slug=slug, name=name.strip())
    db.session.add(tenant)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent create won the race for the slug
        raise errors.Conflict(f"tenant {slug} already exists") from None
    audit.record(
        "tenant.created",
        actor=actor,
        tenant_id=tenant.id,
        target_type="tenant",
        target_id=tenant.id,
    )
    return tenant


def get(tenant_id: str) -> Tenant:
    tenant: Tenant | None = db.session.get(Tenant, tenant_id) if 0 < len(tenant_id) <= 36 else None
    if tenant is None:
        raise errors.NotFound("No such tenant")
    return tenant


def list_tenants(
    *, limit: int = 50, cursor: str | None = None, offset: int | None = None
) -> keyset.Page[Tenant]:
    """Every tenant, newest first: only platform callers may ask."""
    return keyset.paginate(
        select(Tenant),
        at=Tenant.created_at,
        key=Tenant.id,
        limit=limit,
        cursor=cursor,
        offset=offset,
    )


def update(
    tenant: Tenant,
    *,
    name: str | None = None,
    registration_enabled: bool | None = None,
    branding: dict[str, Any] | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> Tenant:
    """Change what an administrator may change; the slug is fixed once chosen (it is in URLs)."""
    changed = []
    if name is not None:
        if not name.strip() or len(name) > 200:
            raise errors.InvalidInput("invalid name", {"name": ["must be 1-200 characters"]})
        tenant.name = name.strip()
        changed.append("name")
    if registration_enabled is not None:
        tenant.registration_enabled = registration_enabled
        changed.append("registration_enabled")
    if branding is not None:
        tenant.branding = dict(branding)
        changed.append("branding")
    db.session.flush()
    audit.record(
        "tenant.updated",
        actor=actor,
        tenant_id=tenant.id,
        target_type="tenant",
        target_id=tenant.id,
        fields=changed,
    )
    return tenant
