"""The order of the authorization decisions (idp.oauth.decision), rule by rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idp.oauth.decision import Facts
from idp.oauth.decision import Step
from idp.oauth.decision import next_step

SIGNED_IN = Facts(
    signed_in=True,
    seconds_since_auth=100,
    signed_in_subject="alice",
    prompts=frozenset(),
    max_age=None,
    hinted_subject=None,
    login_done_here=False,
    consent_decision=None,
    consent_remembered=True,
)


@pytest.mark.parametrize(
    "changes, step",
    [
        ({}, Step.ISSUE),
        ({"signed_in": False, "seconds_since_auth": None, "signed_in_subject": None}, Step.LOGIN),
        ({"prompts": frozenset({"login"})}, Step.LOGIN),
        ({"prompts": frozenset({"select_account"})}, Step.LOGIN),
        ({"prompts": frozenset({"login"}), "login_done_here": True}, Step.ISSUE),
        ({"max_age": 60}, Step.LOGIN),
        ({"max_age": 100}, Step.ISSUE),
        ({"max_age": 60, "login_done_here": True}, Step.ISSUE),
        ({"hinted_subject": "bob"}, Step.LOGIN),
        ({"hinted_subject": "alice"}, Step.ISSUE),
        ({"consent_remembered": False}, Step.CONSENT),
        ({"prompts": frozenset({"consent"})}, Step.CONSENT),
        ({"prompts": frozenset({"consent"}), "consent_decision": "allow"}, Step.ISSUE),
        ({"consent_remembered": False, "consent_decision": "allow"}, Step.ISSUE),
        ({"consent_decision": "deny"}, Step.DENIED),
        ({"consent_decision": "deny", "prompts": frozenset({"login"})}, Step.LOGIN),
    ],
)
def test_next_step(changes, step):
    assert next_step(replace(SIGNED_IN, **changes)) is step
