"""Client registration and validation of client metadata (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp import errors
from idp import security
from idp.extensions import db
from idp.models import Client
from idp.models.client import AUTH_METHODS
from idp.models.client import SERVICE_TYPES
from idp.services import audit

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")
SUBJECT_TYPES = ("public", "pairwise")
SIGNING_ALGS = ("RS256", "ES256")
DEFAULT_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass
class RegisteredClient:
    client: Client
    client_secret: str | None  # shown once, never stored in clear


def get_by_client_id(client_id: str) -> Client | None:
    if not client_id or len(client_id) > 64:
        return None
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    return client if client is not None and client.is_active else None


def validate_redirect_uri(uri: str, *, service_type: str) -> str | None:
    """RFC 9700 §2.1 / RFC 8252: absolute, no fragment, https except loopback (and custom
    schemes for native apps). Returns an error message, or None when valid."""
    if len(uri) > 2048:
        return "too long"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "not a valid URI"
    if not parts.scheme:
        return "must be absolute"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if parts.scheme == "https":
        return None if parts.hostname else "must have a host"
    if parts.scheme == "http":
        if parts.hostname in LOOPBACK_HOSTS:
            return None
        return "must use https (http only on loopback)"
    if service_type == "native" and "." in parts.scheme:
        return None  # private-use scheme in reverse-domain form (RFC 8252 §7.1)
    return "scheme not allowed"


def _validate_jwks(jwks: dict[str, Any] | None) -> str | None:
    if jwks is None:
        return None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or len(keys) > 20:
        return "must be a JWK Set with 1-20 keys"
    try:
        KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (ValueError, TypeError, KeyError, JoseError):
        return "not a valid JWK Set"
    if any(k.get("d") for k in keys if isinstance(k, dict)):
        return "must hold public keys only"
    return None


def create(
    tenant_id: str,
    name: str,
    *,
    redirect_uris: list[str] | None = None,
    post_logout_redirect_uris: list[str] | None = None,
    public: bool = False,
    grant_types: list[str] | None = None,
    scopes: list[str] | None = None,
    auth_method: str | None = None,
    skip_consent: bool = False,
    service_type: str | None = None,
    require_pkce: bool = True,
    id_token_signed_response_alg: str = "RS256",
    backchannel_logout_uri: str | None = None,
    jwks: dict[str, Any] | None = None,
    jwks_uri: str | None = None,
    require_pushed_authorization_requests: bool = False,
    subject_type: str = "public",
    allowed_resources: list[str] | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> RegisteredClient:
    service_type = service_type or ("spa" if public else "web")
    auth_method = auth_method or ("none" if public else "client_secret_basic")
    grant_types = list(dict.fromkeys(grant_types or ["authorization_code"]))
    field_errors: dict[str, list[str]] = {}

    def problem(key: str, message: str) -> None:
        field_errors.setdefault(key, []).append(message)

    if not name.strip() or len(name) > 200:
        problem("name", "must be 1-200 characters")
    if service_type not in SERVICE_TYPES:
        problem("service_type", f"one of {', '.join(SERVICE_TYPES)}")
    if auth_method not in AUTH_METHODS:
        problem("token_endpoint_auth_method", f"one of {', '.join(AUTH_METHODS)}")
    elif public != (auth_method == "none"):
        problem(
            "token_endpoint_auth_method",
            "public clients use none; confidential clients authenticate",
        )
    elif auth_method == "private_key_jwt" and not (jwks or jwks_uri):
        problem("jwks", "private_key_jwt needs jwks or jwks_uri")
    if jwks and jwks_uri:
        problem("jwks", "give jwks or jwks_uri, not both")
    jwks_problem = _validate_jwks(jwks)
    if jwks_problem:
        problem("jwks", jwks_problem)
    bad_grants = [g for g in grant_types if g not in GRANT_TYPES]
    if bad_grants:
        problem("grant_types", f"unsupported: {', '.join(bad_grants)}")
    if public and "client_credentials" in grant_types:
        problem("grant_types", "public clients cannot use client_credentials")
    if id_token_signed_response_alg not in SIGNING_ALGS:
        problem("id_token_signed_response_alg", f"one of {', '.join(SIGNING_ALGS)}")
    if subject_type not in SUBJECT_TYPES:
        problem("subject_type", f"one of {', '.join(SUBJECT_TYPES)}")
    for key, uris in (
        ("redirect_uris", redirect_uris or []),
        ("post_logout_redirect_uris", post_logout_redirect_uris or []),
    ):
        for uri in uris:
            issue = validate_redirect_uri(uri, service_type=service_type)
            if issue:
                problem(key, f"{uri}: {issue}")
    for key, url in (("backchannel_logout_uri", backchannel_logout_uri), ("jwks_uri", jwks_uri)):
        issue = validate_redirect_uri(url, service_type="web") if url else None
        if issue:
            problem(key, issue)
    for resource in allowed_resources or []:
        issue = validate_redirect_uri(resource, service_type="web")
        if issue:
            problem("allowed_resources", f"{resource}: {issue}")
    if "authorization_code" in grant_types and not redirect_uris:
        problem("redirect_uris", "required for the authorization_code grant")
    hosts = {urlsplit(u).hostname for u in redirect_uris or []}
    if subject_type == "pairwise" and len(hosts) > 1:
        problem("redirect_uris", "pairwise clients need all redirect URIs on one host")
    if field_errors:
        raise errors.InvalidInput("invalid client metadata", field_errors)

    has_secret = auth_method in SECRET_AUTH_METHODS
    secret = security.random_token(32) if has_secret else None
    client = Client(
        tenant_id=tenant_id,
        client_id=security.random_token(16),
        client_secret_hash=security.hash_secret(secret) if secret else None,
        # client_secret_jwt verifies an HMAC keyed with the secret itself: keep it encrypted.
        client_secret_encrypted=security.encrypt(secret.encode())
        if secret and auth_method == "client_secret_jwt"
        else None,
        name=name.strip(),
        service_type=service_type,
        is_public=public,
        token_endpoint_auth_method=auth_method,
        redirect_uris=list(dict.fromkeys(redirect_uris or [])),
        post_logout_redirect_uris=list(dict.fromkeys(post_logout_redirect_uris or [])),
        grant_types=grant_types,
        response_types=["code"] if "authorization_code" in grant_types else [],
        scopes=list(dict.fromkeys(scopes or DEFAULT_SCOPES)),
        require_pkce=True if public else require_pkce,
        skip_consent=skip_consent,
        id_token_signed_response_alg=id_token_signed_response_alg,
        backchannel_logout_uri=backchannel_logout_uri,
        jwks=jwks,
        jwks_uri=jwks_uri,
        require_pushed_authorization_requests=require_pushed_authorization_requests,
        subject_type=subject_type,
        sector_identifier=next(iter(hosts)) if subject_type == "pairwise" and hosts else None,
        allowed_resources=list(dict.fromkeys(allowed_resources or [])),
    )
    db.session.add(client)
    db.session.flush()
    audit.record(
        "client.created",
        actor=actor,
        tenant_id=tenant_id,
        client_id=client.client_id,
        target_type="client",
        target_id=client.id,
    )
    return RegisteredClient(client, secret)


def rotate_secret(client: Client, *, actor: audit.Actor = audit.SYSTEM) -> str:
    """New secret, shown once; the old one stops working at once."""
    if client.is_public:
        raise errors.InvalidInput("public clients have no secret")
    if client.token_endpoint_auth_method not in SECRET_AUTH_METHODS:
        raise errors.InvalidInput("this client authenticates without a secret")
    secret = security.random_token(32)
    client.client_secret_hash = security.hash_secret(secret)
    if client.token_endpoint_auth_method == "client_secret_jwt":
        client.client_secret_encrypted = security.encrypt(secret.encode())
    audit.record(
        "client.secret_rotated",
        actor=actor,
        tenant_id=client.tenant_id,
        client_id=client.client_id,
        target_type="client",
        target_id=client.id,
    )
    return secret
