"""Client registration and validation of client metadata (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select

from idp import errors
from idp import security
from idp.extensions import db
from idp.models import Client
from idp.models.client import AUTH_METHODS
from idp.models.client import SERVICE_TYPES
from idp.services import audit

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
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
    actor: audit.Actor = audit.SYSTEM,
) -> RegisteredClient:
    service_type = service_type or ("spa" if public else "web")
    auth_method = auth_method or ("none" if public else "client_secret_basic")
    grant_types = list(dict.fromkeys(grant_types or ["authorization_code"]))
    field_errors: dict[str, list[str]] = {}
    if not name.strip() or len(name) > 200:
        field_errors["name"] = ["must be 1-200 characters"]
    if service_type not in SERVICE_TYPES:
        field_errors["service_type"] = [f"one of {', '.join(SERVICE_TYPES)}"]
    if auth_method not in AUTH_METHODS:
        field_errors["token_endpoint_auth_method"] = [f"one of {', '.join(AUTH_METHODS)}"]
    elif public != (auth_method == "none"):
        field_errors["token_endpoint_auth_method"] = [
            "public clients use none; confidential clients authenticate"
        ]
    bad_grants = [g for g in grant_types if g not in GRANT_TYPES]
    if bad_grants:
        field_errors["grant_types"] = [f"unsupported: {', '.join(bad_grants)}"]
    if public and "client_credentials" in grant_types:
        field_errors.setdefault("grant_types", []).append("public clients cannot use it")
    if id_token_signed_response_alg not in SIGNING_ALGS:
        field_errors["id_token_signed_response_alg"] = [f"one of {', '.join(SIGNING_ALGS)}"]
    for key, uris in (
        ("redirect_uris", redirect_uris or []),
        ("post_logout_redirect_uris", post_logout_redirect_uris or []),
    ):
        for uri in uris:
            problem = validate_redirect_uri(uri, service_type=service_type)
            if problem:
                field_errors.setdefault(key, []).append(f"{uri}: {problem}")
    if "authorization_code" in grant_types and not redirect_uris:
        field_errors.setdefault("redirect_uris", []).append(
            "required for the authorization_code grant"
        )
    if field_errors:
        raise errors.InvalidInput("invalid client metadata", field_errors)

    secret = None if public else security.random_token(32)
    client = Client(
        tenant_id=tenant_id,
        client_id=security.random_token(16),
        client_secret_hash=security.hash_secret(secret) if secret else None,
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
    secret = security.random_token(32)
    client.client_secret_hash = security.hash_secret(secret)
    audit.record(
        "client.secret_rotated",
        actor=actor,
        tenant_id=client.tenant_id,
        client_id=client.client_id,
        target_type="client",
        target_id=client.id,
    )
    return secret
