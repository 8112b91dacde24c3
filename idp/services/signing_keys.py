"""Signing keys: generate, rotate, list. Private keys are encrypted at rest (DESIGN §3)."""

from __future__ import annotations

import json
from datetime import timedelta

from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey
from sqlalchemy import or_
from sqlalchemy import select

from idp import clock
from idp import errors
from idp import security
from idp.extensions import db
from idp.models import SigningKey
from idp.services import audit

ALGORITHMS = ("RS256", "ES256")


def _generate(alg: str) -> RSAKey | ECKey:
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    raise errors.InvalidInput(f"unsupported algorithm {alg}", {"alg": list(ALGORITHMS)})


def create(alg: str, *, actor: audit.Actor = audit.SYSTEM) -> SigningKey:
    key = _generate(alg)
    kid = key.thumbprint()
    private = json.dumps(key.as_dict(private=True)).encode()
    record = SigningKey(
        kid=kid,
        alg=alg,
        public_jwk={**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"},
        private_jwk_encrypted=security.encrypt(private, associated_data=kid.encode()),
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "signing_key.created", actor=actor, target_type="signing_key", target_id=kid, alg=alg
    )
    return record


def load_private_jwk(record: SigningKey) -> dict[str, str]:
    jwk: dict[str, str] = json.loads(
        security.decrypt(record.private_jwk_encrypted, record.kid.encode())
    )
    return jwk


def active(alg: str) -> SigningKey | None:
    """The key that signs new tokens for `alg`: the newest one not retired."""
    return db.session.scalar(
        select(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )


def ensure_keys() -> list[SigningKey]:
    """First start: one active key per supported algorithm."""
    return [active(alg) or create(alg) for alg in ALGORITHMS]


def rotate(alg: str, *, publish_for: timedelta, actor: audit.Actor = audit.SYSTEM) -> SigningKey:
    """New key signs from now on; the old one stays in JWKS for `publish_for`, long enough for
    every token it signed to expire."""
    now = clock.now()
    previous = active(alg)
    new = create(alg, actor=actor)
    if previous is not None:
        previous.retired_at = now
        previous.publish_until = now + publish_for
        audit.record(
            "signing_key.retired",
            actor=actor,
            target_type="signing_key",
            target_id=previous.kid,
            publish_until=previous.publish_until.isoformat(),
        )
    return new


def published() -> list[SigningKey]:
    """Keys in JWKS: active ones and retired ones still inside their publication window."""
    now = clock.now()
    return list(
        db.session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.publish_until.is_(None), SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc())
        )
    )


def list_all() -> list[SigningKey]:
    return list(db.session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())))
