"""Tenants: the default one always exists."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp import errors
from idp.extensions import db
from idp.models import Tenant
from idp.models.tenant import DEFAULT_TENANT_SLUG
from idp.services import audit

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
    if not name.strip():
        raise errors.InvalidInput("invalid name", {"name": ["must not be empty"]})
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise errors.Conflict(f"tenant {slug} already exists")
    tenant = Tenant(slug=slug, name=name.strip())
    db.session.add(tenant)
    db.session.flush()
    audit.record(
        "tenant.created",
        actor=actor,
        tenant_id=tenant.id,
        target_type="tenant",
        target_id=tenant.id,
    )
    return tenant
