"""Client registration and validation of client metadata (DESIGN §4)."""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import func
from sqlalchemy import select

from idp import errors
from idp import security
from idp.extensions import db
from idp.models import Client
from idp.models.client import AUTH_METHODS
from idp.models.client import SERVICE_TYPES
from idp.services import audit
from idp.services import keyset

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")
SUBJECT_TYPES = ("public", "pairwise")
SIGNING_ALGS = ("RS256", "ES256")
DEFAULT_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
DAY = 24 * 3600
# Per-client token lifetimes in seconds (None: the server default of idp.config).
LIFETIME_RANGES = {
    "code_lifetime": (10, 600),
    "access_token_lifetime": (60, DAY),
    "id_token_lifetime": (60, DAY),
    "refresh_token_lifetime": (300, 365 * DAY),
    "refresh_token_absolute_lifetime": (300, 730 * DAY),
}


@dataclass
class RegisteredClient:
    client: Client
    client_secret: str | None  # shown once, never stored in clear


@dataclass(frozen=True)
class ClientMetadata:
    """Everything an administrator may set on a client; create and update both check it
    with validate_metadata, so the rules cannot drift apart."""

    name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    public: bool
    grant_types: list[str]
    scopes: list[str]
    auth_method: str
    skip_consent: bool
    service_type: str
    require_pkce: bool
    id_token_signed_response_alg: str
    backchannel_logout_uri: str | None
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    require_pushed_authorization_requests: bool
    subject_type: str
    allowed_resources: list[str]
    code_lifetime: int | None = None
    access_token_lifetime: int | None = None
    id_token_lifetime: int | None = None
    refresh_token_lifetime: int | None = None
    refresh_token_absolute_lifetime: int | None = None


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


def validate_metadata(meta: ClientMetadata) -> None:
    """Raise InvalidInput naming every field that is wrong (RFC 7591 §2 metadata rules)."""
    field_errors: dict[str, list[str]] = {}

    def problem(key: str, message: str) -> None:
        field_errors.setdefault(key, []).append(message)

    if not meta.name.strip() or len(meta.name) > 200:
        problem("name", "must be 1-200 characters")
    if meta.service_type not in SERVICE_TYPES:
        problem("service_type", f"one of {', '.join(SERVICE_TYPES)}")
    if meta.auth_method not in AUTH_METHODS:
        problem("token_endpoint_auth_method", f"one of {', '.join(AUTH_METHODS)}")
    elif meta.public != (meta.auth_method == "none"):
        problem(
            "token_endpoint_auth_method",
            "public clients use none; confidential clients authenticate",
        )
    elif meta.auth_method == "private_key_jwt" and not (meta.jwks or meta.jwks_uri):
        problem("jwks", "private_key_jwt needs jwks or jwks_uri")
    if meta.jwks and meta.jwks_uri:
        problem("jwks", "give jwks or jwks_uri, not both")
    jwks_problem = _validate_jwks(meta.jwks)
    if jwks_problem:
        problem("jwks", jwks_problem)
    bad_grants = [g for g in meta.grant_types if g not in GRANT_TYPES]
    if bad_grants:
        problem("grant_types", f"unsupported: {', '.join(bad_grants)}")
    if meta.public and "client_credentials" in meta.grant_types:
        problem("grant_types", "public clients cannot use client_credentials")
    if meta.id_token_signed_response_alg not in SIGNING_ALGS:
        problem("id_token_signed_response_alg", f"one of {', '.join(SIGNING_ALGS)}")
    if meta.subject_type not in SUBJECT_TYPES:
        problem("subject_type", f"one of {', '.join(SUBJECT_TYPES)}")
    for key, uris in (
        ("redirect_uris", meta.redirect_uris),
        ("post_logout_redirect_uris", meta.post_logout_redirect_uris),
    ):
        for uri in uris:
            issue = validate_redirect_uri(uri, service_type=meta.service_type)
            if issue:
                problem(key, f"{uri}: {issue}")
    for key, url in (
        ("backchannel_logout_uri", meta.backchannel_logout_uri),
        ("jwks_uri", meta.jwks_uri),
    ):
        issue = validate_redirect_uri(url, service_type="web") if url else None
        if issue:
            problem(key, issue)
    for resource in meta.allowed_resources:
        issue = validate_redirect_uri(resource, service_type="web")
        if issue:
            problem("allowed_resources", f"{resource}: {issue}")
    if "authorization_code" in meta.grant_types and not meta.redirect_uris:
        problem("redirect_uris", "required for the authorization_code grant")
    if meta.subject_type == "pairwise" and len(_hosts(meta.redirect_uris)) > 1:
        problem("redirect_uris", "pairwise clients need all redirect URIs on one host")
    for key, (low, high) in LIFETIME_RANGES.items():
        seconds = getattr(meta, key)
        if seconds is not None and not low <= seconds <= high:
            problem(key, f"must be {low}-{high} seconds")
    idle, absolute = meta.refresh_token_lifetime, meta.refresh_token_absolute_lifetime
    if idle is not None and absolute is not None and idle > absolute:
        problem("refresh_token_lifetime", "must not exceed refresh_token_absolute_lifetime")
    if field_errors:
        raise errors.InvalidInput("invalid client metadata", field_errors)


def _hosts(uris: list[str]) -> set[str | None]:
    return {urlsplit(u).hostname for u in uris}


def _metadata_of(client: Client) -> ClientMetadata:
    return ClientMetadata(
        name=client.name,
        redirect_uris=list(client.redirect_uris),
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        public=client.is_public,
        grant_types=list(client.grant_types),
        scopes=list(client.scopes),
        auth_method=client.token_endpoint_auth_method,
        skip_consent=client.skip_consent,
        service_type=client.service_type,
        require_pkce=client.require_pkce,
        id_token_signed_response_alg=client.id_token_signed_response_alg,
        backchannel_logout_uri=client.backchannel_logout_uri,
        jwks=client.jwks,
        jwks_uri=client.jwks_uri,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        subject_type=client.subject_type,
        allowed_resources=list(client.allowed_resources),
        code_lifetime=client.code_lifetime,
        access_token_lifetime=client.access_token_lifetime,
        id_token_lifetime=client.id_token_lifetime,
        refresh_token_lifetime=client.refresh_token_lifetime,
        refresh_token_absolute_lifetime=client.refresh_token_absolute_lifetime,
    )


def _apply(client: Client, meta: ClientMetadata) -> None:
    """Write validated metadata onto the row, with the derived columns."""
    hosts = _hosts(meta.redirect_uris)
    client.name = meta.name.strip()
    client.service_type = meta.service_type
    client.is_public = meta.public
    client.token_endpoint_auth_method = meta.auth_method
    client.redirect_uris = list(dict.fromkeys(meta.redirect_uris))
    client.post_logout_redirect_uris = list(dict.fromkeys(meta.post_logout_redirect_uris))
    client.grant_types = list(dict.fromkeys(meta.grant_types))
    client.response_types = ["code"] if "authorization_code" in meta.grant_types else []
    client.scopes = list(dict.fromkeys(meta.scopes))
    client.require_pkce = True if meta.public else meta.require_pkce  # RFC 9700 §2.1.1
    client.skip_consent = meta.skip_consent
    client.id_token_signed_response_alg = meta.id_token_signed_response_alg
    client.backchannel_logout_uri = meta.backchannel_logout_uri
    client.jwks = meta.jwks
    client.jwks_uri = meta.jwks_uri
    client.require_pushed_authorization_requests = meta.require_pushed_authorization_requests
    client.subject_type = meta.subject_type
    client.sector_identifier = (
        next(iter(hosts)) if meta.subject_type == "pairwise" and hosts else None
    )
    client.allowed_resources = list(dict.fromkeys(meta.allowed_resources))
    for key in LIFETIME_RANGES:
        setattr(client, key, getattr(meta, key))


def _set_secret(client: Client) -> str | None:
    """Match the stored secret to the auth method: a new one for the secret methods (kept
    encrypted too for client_secret_jwt, whose HMAC key is the secret itself), none otherwise."""
    if client.token_endpoint_auth_method not in SECRET_AUTH_METHODS:
        client.client_secret_hash = client.client_secret_encrypted = None
        return None
    secret = security.random_token(32)
    client.client_secret_hash = security.hash_secret(secret)
    client.client_secret_encrypted = (
        security.encrypt(secret.encode())
        if client.token_endpoint_auth_method == "client_secret_jwt"
        else None
    )
    return secret


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
    code_lifetime: int | None = None,
    access_token_lifetime: int | None = None,
    id_token_lifetime: int | None = None,
    refresh_token_lifetime: int | None = None,
    refresh_token_absolute_lifetime: int | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> RegisteredClient:
    meta = ClientMetadata(
        name=name,
        redirect_uris=list(redirect_uris or []),
        post_logout_redirect_uris=list(post_logout_redirect_uris or []),
        public=public,
        grant_types=list(dict.fromkeys(grant_types or ["authorization_code"])),
        scopes=list(scopes or DEFAULT_SCOPES),
        auth_method=auth_method or ("none" if public else "client_secret_basic"),
        skip_consent=skip_consent,
        service_type=service_type or ("spa" if public else "web"),
        require_pkce=require_pkce,
        id_token_signed_response_alg=id_token_signed_response_alg,
        backchannel_logout_uri=backchannel_logout_uri,
        jwks=jwks,
        jwks_uri=jwks_uri,
        require_pushed_authorization_requests=require_pushed_authorization_requests,
        subject_type=subject_type,
        allowed_resources=list(allowed_resources or []),
        code_lifetime=code_lifetime,
        access_token_lifetime=access_token_lifetime,
        id_token_lifetime=id_token_lifetime,
        refresh_token_lifetime=refresh_token_lifetime,
        refresh_token_absolute_lifetime=refresh_token_absolute_lifetime,
    )
    validate_metadata(meta)
    client = Client(tenant_id=tenant_id, client_id=security.random_token(16))
    _apply(client, meta)
    secret = _set_secret(client)
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


def get(tenant_id: str, client_id: str) -> Client:
    """The tenant's client by its public OAuth client_id; another tenant's is NotFound."""
    client: Client | None = None
    if client_id and len(client_id) <= 64:
        client = db.session.scalar(
            select(Client).where(Client.client_id == client_id, Client.tenant_id == tenant_id)
        )
    if client is None:
        raise errors.NotFound("No such client")
    return client


def list_clients(
    tenant_id: str,
    *,
    search: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    offset: int | None = None,
) -> keyset.Page[Client]:
    """The tenant's clients, newest first; `search` matches a name prefix, ignoring case."""
    query = select(Client).where(Client.tenant_id == tenant_id)
    if search:
        query = query.where(func.lower(Client.name).startswith(search.lower(), autoescape=True))
    return keyset.paginate(
        query, at=Client.created_at, key=Client.id, limit=limit, cursor=cursor, offset=offset
    )


def update(
    client: Client, *, actor: audit.Actor = audit.SYSTEM, **changes: Any
) -> RegisteredClient:
    """Change metadata under the rules of create. Turning a client public (or confidential)
    without naming an auth method picks that kind's default. A new secret is issued, and
    returned once, only when the new auth method needs a secret the client cannot have yet."""
    current = _metadata_of(client)
    if "public" in changes and "auth_method" not in changes and changes["public"] != current.public:
        changes["auth_method"] = "none" if changes["public"] else "client_secret_basic"
    meta = replace(current, **changes)
    validate_metadata(meta)
    old_method = client.token_endpoint_auth_method
    _apply(client, meta)
    new_method = meta.auth_method
    secret = None
    if new_method not in SECRET_AUTH_METHODS or old_method not in SECRET_AUTH_METHODS:
        secret = _set_secret(client)
    elif new_method == "client_secret_jwt" and old_method != "client_secret_jwt":
        secret = _set_secret(client)  # the clear secret is gone: only a new one can be kept
    elif new_method != "client_secret_jwt":
        client.client_secret_encrypted = None
    changed = sorted(k for k, v in asdict(meta).items() if getattr(current, k) != v)
    db.session.flush()
    audit.record(
        "client.updated",
        actor=actor,
        tenant_id=client.tenant_id,
        client_id=client.client_id,
        target_type="client",
        target_id=client.id,
        fields=changed,
        secret_issued=secret is not None,
    )
    return RegisteredClient(client, secret)


def delete(client: Client, *, actor: audit.Actor = audit.SYSTEM) -> None:
    """Remove the client; its grants, codes, tokens and consents go with it (ON DELETE CASCADE)."""
    audit.record(
        "client.deleted",
        actor=actor,
        tenant_id=client.tenant_id,
        client_id=client.client_id,
        target_type="client",
        target_id=client.id,
        name=client.name,
    )
    db.session.delete(client)
    db.session.flush()


def rotate_secret(client: Client, *, actor: audit.Actor = audit.SYSTEM) -> str:
    """New secret, shown once; the old one stops working at once."""
    if client.is_public:
        raise errors.InvalidInput("public clients have no secret")
    if client.token_endpoint_auth_method not in SECRET_AUTH_METHODS:
        raise errors.InvalidInput("this client authenticates without a secret")
    secret = _set_secret(client)
    assert secret is not None
    audit.record(
        "client.secret_rotated",
        actor=actor,
        tenant_id=client.tenant_id,
        client_id=client.client_id,
        target_type="client",
        target_id=client.id,
    )
    return secret
