"""Every model, re-exported so Alembic autogenerate sees them all."""

from idp.models.action_token import ActionToken
from idp.models.api_key import ApiKey
from idp.models.audit import AuditEvent
from idp.models.client import Client
from idp.models.grant import AuthorizationCode
from idp.models.grant import Consent
from idp.models.grant import Grant
from idp.models.identity import Identity
from idp.models.logout import BackchannelLogout
from idp.models.mail import OutgoingMail
from idp.models.mfa import BackupCode
from idp.models.mfa import TotpCredential
from idp.models.mfa import WebAuthnChallenge
from idp.models.mfa import WebAuthnCredential
from idp.models.par import PushedAuthorizationRequest
from idp.models.session import BrowserSession
from idp.models.signing_key import SigningKey
from idp.models.subscription import Plan
from idp.models.subscription import Subscription
from idp.models.tenant import Tenant
from idp.models.token import RefreshToken
from idp.models.token import RevokedAccessToken
from idp.models.token import UsedClientAssertion
from idp.models.user import User

__all__ = [
    "ActionToken",
    "BackupCode",
    "Identity",
    "TotpCredential",
    "WebAuthnChallenge",
    "WebAuthnCredential",
    "ApiKey",
    "AuditEvent",
    "AuthorizationCode",
    "BackchannelLogout",
    "BrowserSession",
    "Client",
    "Consent",
    "Grant",
    "OutgoingMail",
    "Plan",
    "PushedAuthorizationRequest",
    "RefreshToken",
    "RevokedAccessToken",
    "SigningKey",
    "Subscription",
    "Tenant",
    "UsedClientAssertion",
    "User",
]
