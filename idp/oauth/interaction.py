"""Park a pending authorization request while the user signs in or consents, then resume it.

The request's parameters live in the signed flow cookie (Flask's session), so any worker can
resume it. `/authorize` hands off to the hosted pages with an interaction id; the pages record
what happened (sign-in time, consent decision) and send the browser back to `resume_url`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import session
from flask import url_for

from idp import clock
from idp import security

MAX_PENDING = 5
MAX_AGE_SECONDS = 30 * 60
MAX_PARAMS_BYTES = 2048
# Browsers drop cookies over 4 KiB; the signed, base64-encoded session must stay below that.
MAX_STORED_BYTES = 2600


@dataclass
class Interaction:
    id: str
    params: dict[str, str]
    created: int
    login_at: int | None = None
    consent: str | None = None  # "allow" | "deny"
    user_id: str | None = None  # whose sign-in and decision these are

    def decided_by(self, user_id: str | None) -> bool:
        """Decisions count only for the user who made them (another may sign in meanwhile)."""
        return user_id is not None and self.user_id == user_id

    @property
    def resume_url(self) -> str:
        return url_for("oauth.resume", interaction_id=self.id)


def _store() -> dict[str, dict[str, Any]]:
    pending: dict[str, dict[str, Any]] = session.get("interactions", {})
    now = clock.epoch()
    return {k: v for k, v in pending.items() if now - v["created"] < MAX_AGE_SECONDS}


def params_fit(params: dict[str, str]) -> bool:
    return sum(len(k) + len(v) for k, v in params.items()) <= MAX_PARAMS_BYTES


def _evict_oldest(pending: dict[str, dict[str, Any]], keep: str) -> None:
    """Drop the oldest other requests (abandoned tabs) until the cookie fits."""
    while len(pending) > 1 and (
        len(pending) > MAX_PENDING or len(json.dumps(pending)) > MAX_STORED_BYTES
    ):
        oldest = min((k for k in pending if k != keep), key=lambda k: pending[k]["created"])
        pending.pop(oldest)


def start(params: dict[str, str]) -> Interaction:
    interaction = Interaction(id=security.random_token(12), params=params, created=clock.epoch())
    save(interaction)
    return interaction


def load(interaction_id: str | None) -> Interaction | None:
    if not interaction_id:
        return None
    data = _store().get(interaction_id)
    return Interaction(**data) if data else None


def save(interaction: Interaction) -> None:
    pending = _store()
    pending[interaction.id] = interaction.__dict__.copy()
    _evict_oldest(pending, keep=interaction.id)
    session["interactions"] = pending


def finish(interaction: Interaction | None) -> None:
    if interaction is None:
        return
    pending = _store()
    pending.pop(interaction.id, None)
    session["interactions"] = pending
