"""What an authorization request needs next, decided from plain facts (OIDC Core §3.1.2.1-3).

Kept free of Flask and the database so each rule can be read, and tested, on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Step(Enum):
    LOGIN = "login"
    CONSENT = "consent"
    DENIED = "denied"
    ISSUE = "issue"


@dataclass(frozen=True)
class Facts:
    signed_in: bool
    seconds_since_auth: int | None  # None when nobody is signed in
    signed_in_subject: str | None  # the `sub` this client would see for the signed-in user
    prompts: frozenset[str]
    max_age: int | None
    hinted_subject: str | None  # from a valid id_token_hint
    login_done_here: bool  # the user signed in during this very request
    consent_decision: str | None  # "allow" / "deny", made by this user during this request
    consent_remembered: bool  # remembered consent covers the scopes (or a first-party client)


def next_step(facts: Facts) -> Step:
    """The order matters: sign-in first (prompt=login, max_age, a hint for someone else),
    then the user's own denial, then consent."""
    stale = (
        facts.max_age is not None
        and facts.seconds_since_auth is not None
        and facts.seconds_since_auth > facts.max_age
    )
    other_user = (
        facts.hinted_subject is not None and facts.hinted_subject != facts.signed_in_subject
    )
    wants_login = bool(facts.prompts & {"login", "select_account"})
    if not facts.signed_in or (not facts.login_done_here and (stale or other_user or wants_login)):
        return Step.LOGIN
    if facts.consent_decision == "deny":
        return Step.DENIED
    if facts.consent_decision != "allow" and (
        not facts.consent_remembered or "consent" in facts.prompts
    ):
        return Step.CONSENT
    return Step.ISSUE
