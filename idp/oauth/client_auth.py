"""Client authentication at /token, /par, /revoke and /introspect (RFC 6749 §2.3; RFC 7521
§4.2 and RFC 7523 §2.2, §3; OIDC Core §9).

Authlib's registry runs the methods; on top of it:

- one method per request: HTTP Basic with a secret in the body, or an assertion with a
  secret, is invalid_request (RFC 6749 §2.3);
- `private_key_jwt` (RS256, PS256, ES256; keys from the client's `jwks` or `jwks_uri`) and
  `client_secret_jwt` (HS256 keyed with the client's secret);
- every failed authentication is a 401 invalid_client with WWW-Authenticate.

An assertion is checked in this order: its type and shape; iss == sub (== client_id when one
is sent); the client exists and is registered for this method; the algorithm; the signature;
aud names us; exp in the future but at most MAX_ASSERTION_LIFETIME away; iat and nbf not in
the future; and last its jti, recorded so it is used once.
"""

from __future__ import annotations

import binascii
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.authenticate_client import (
    ClientAuthentication as AuthlibClientAuthentication,
)
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.errors import JoseError
from joserfc.jwk import Key
from joserfc.jwk import KeySet
from joserfc.jwk import OctKey

from idp import clock
from idp import runtime
from idp import security
from idp.models import Client
from idp.models import client as client_model
from idp.outbound import DestinationRefused
from idp.outbound import check_destination
from idp.services import client_assertions

ASSERTION_TYPE = JWTBearerClientAssertion.CLIENT_ASSERTION_TYPE
PRIVATE_KEY_JWT_ALGS = ("RS256", "PS256", "ES256")
CLIENT_SECRET_JWT_ALGS = ("HS256",)
ASSERTION_SIGNING_ALGS = PRIVATE_KEY_JWT_ALGS + CLIENT_SECRET_JWT_ALGS

# Every method a client can be registered with (each client is held to its own one).
AUTH_METHODS = list(client_model.AUTH_METHODS)
# RFC 7662 §2.1: only a client that can prove who it is may introspect.
CONFIDENTIAL_AUTH_METHODS = [m for m in AUTH_METHODS if m != "none"]

LEEWAY = 30  # seconds of clock skew allowed on exp, iat and nbf
MAX_ASSERTION_LIFETIME = 600  # exp may lie at most this far ahead
MAX_ASSERTION_LENGTH = 8192
MAX_CANDIDATE_KEYS = 5  # assertions without kid: keys tried, at most

JWKS_TIMEOUT = 5.0
JWKS_MAX_BYTES = 64 * 1024
JWKS_CACHE_TTL = timedelta(minutes=5)
JWKS_REFETCH_INTERVAL = timedelta(seconds=10)  # an unknown kid refetches at most this often
JWKS_CACHE_SIZE = 1024


def invalid_client(description: str) -> InvalidClientError:
    return InvalidClientError(description=description, status_code=401)


# --- one method per request --------------------------------------------------------------------


def presented_methods(request: Any) -> set[str]:
    """The kinds of client credentials a request carries (client_id alone is none)."""
    found = set()
    scheme = request.headers.get("Authorization", "").partition(" ")[0]
    if scheme.lower() == "basic":
        found.add("client_secret_basic")
    form = request.form
    if "client_secret" in form:
        found.add("client_secret_post")
    if "client_assertion" in form or "client_assertion_type" in form:
        found.add("jwt")
    return found


class ClientAuthentication(AuthlibClientAuthentication):
    def authenticate(self, request: Any, methods: list[str], endpoint: str) -> Client:
        if len(presented_methods(request)) > 1:
            raise InvalidRequestError("Use one client authentication method, not several")
        try:
            client: Client = super().authenticate(request, methods, endpoint)
        except (UnicodeDecodeError, binascii.Error):
            raise InvalidClientError(status_code=401, description="Malformed credentials") from None
        except InvalidClientError as error:
            error.status_code = 401  # RFC 6749 §5.2; also sets WWW-Authenticate
            raise
        return client


# --- assertions (RFC 7523) ---------------------------------------------------------------------


class ClientAssertion(JWTBearerClientAssertion):
    """Authlib's jwt-bearer client authentication, held to one registered method, our clock,
    pinned algorithms, a bounded lifetime and single use."""

    CLIENT_AUTH_METHOD = ""
    ALGORITHMS: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__(leeway=LEEWAY)

    def __call__(self, query_client: Any, request: Any) -> Client | None:
        form = request.form
        if "client_assertion" not in form and "client_assertion_type" not in form:
            return None
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise invalid_client("client_assertion_type must be jwt-bearer")
        if not assertion or len(assertion) > MAX_ASSERTION_LENGTH:
            raise invalid_client("Missing or oversized client_assertion")
        headers, claims = self.extract_assertion(assertion)
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or not client_id:
            raise invalid_client("The assertion needs sub")
        if claims.get("iss") != client_id:
            raise invalid_client("The assertion iss and sub must both be the client_id")
        if form.get("client_id", client_id) != client_id:
            raise invalid_client("client_id does not match the assertion")
        client: Client | None = query_client(client_id)
        if client is None:
            raise invalid_client("Unknown client")
        if not client.check_endpoint_auth_method(self.CLIENT_AUTH_METHOD, "token"):
            return None  # another method may be this client's; else invalid_client
        if headers.get("alg") not in self.ALGORITHMS:
            raise invalid_client("Assertion algorithm not allowed for this method")
        self.verify_signature(assertion, client, headers)
        self.verify_claims_for(claims, audiences(request))
        request.client = client
        return client

    def verify_signature(self, assertion: str, client: Client, headers: dict[str, Any]) -> None:
        for key in self.candidate_keys(client, headers):
            try:
                jwt.decode(assertion, key, algorithms=list(self.ALGORITHMS))
                return
            except BadSignatureError:
                continue
            except (JoseError, ValueError, TypeError):
                break
        raise invalid_client("The assertion signature does not verify")

    def candidate_keys(self, client: Client, headers: dict[str, Any]) -> Iterable[Key]:
        raise NotImplementedError

    def verify_claims_for(self, claims: dict[str, Any], audiences: list[str]) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=clock.epoch,
            leeway=self.leeway,
            aud={"essential": True, "values": audiences},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            claim = getattr(error, "claim", None) or error.error
            raise invalid_client(f"Invalid assertion claim {claim}") from None
        exp = claims["exp"]
        if exp - clock.epoch() > MAX_ASSERTION_LIFETIME:
            raise invalid_client("The assertion lives too long")
        if not self.validate_jti(claims, claims["jti"]):
            raise invalid_client("The assertion was used before")

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        expires_at = datetime.fromtimestamp(int(claims["exp"]) + self.leeway, UTC)
        return client_assertions.record_use(claims["sub"], jti, expires_at)


class PrivateKeyJWT(ClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"
    ALGORITHMS = PRIVATE_KEY_JWT_ALGS

    def candidate_keys(self, client: Client, headers: dict[str, Any]) -> Iterable[Key]:
        kid = headers.get("kid")
        keys = self.client_keys(client)
        if kid is not None and client.jwks_uri and not _has_kid(keys, kid):
            keys = jwks_cache.get(client.jwks_uri, refetch=True)  # the client rotated its keys
        usable = [k for k in keys if k.get("use") in (None, "sig") and not k.is_private]
        if kid is not None:
            return [k for k in usable if k.kid == kid][:1]
        kty = "EC" if str(headers.get("alg")).startswith("ES") else "RSA"
        return [k for k in usable if k.key_type == kty][:MAX_CANDIDATE_KEYS]

    def client_keys(self, client: Client) -> list[Key]:
        if client.jwks:
            try:
                return list(KeySet.import_key_set(client.jwks).keys)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError):
                raise invalid_client("The client's registered keys are unusable") from None
        if client.jwks_uri:
            return jwks_cache.get(client.jwks_uri)
        raise invalid_client("The client has no registered keys")


class ClientSecretJWT(ClientAssertion):
    CLIENT_AUTH_METHOD = "client_secret_jwt"
    ALGORITHMS = CLIENT_SECRET_JWT_ALGS

    def candidate_keys(self, client: Client, headers: dict[str, Any]) -> Iterable[Key]:
        if not client.client_secret_encrypted:
            raise invalid_client("The client has no secret for client_secret_jwt")
        try:
            secret = security.decrypt(client.client_secret_encrypted)
        except (InvalidTag, ValueError):  # encrypted under another IDP_SECRET_KEY
            raise invalid_client("The client's secret cannot be read") from None
        return [OctKey.import_key(secret)]


def audiences(request: Any) -> list[str]:
    """OIDC Core §9 asks for the token endpoint, RFC 7523 §3 allows the issuer; the URL of the
    endpoint being called (revocation, introspection, PAR) is accepted too. All are built
    from our issuer, never from the request's Host header."""
    issuer = runtime.settings().issuer
    return list(dict.fromkeys([issuer, f"{issuer}/token", issuer + urlsplit(request.uri).path]))


def _has_kid(keys: list[Key], kid: str) -> bool:
    return any(k.kid == kid for k in keys)


# --- jwks_uri ----------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an error (HTTPError), never followed


_opener = urllib.request.build_opener(_NoRedirect)


def fetch_jwks(uri: str) -> list[Key]:
    """GET a client's JWK Set: http(s) only, no redirects, 5 s timeout, 64 KiB at most."""
    try:
        check_destination(uri, allow_internal=runtime.settings().internal_callbacks_allowed)
    except DestinationRefused:
        raise invalid_client("The client's jwks_uri is not reachable from here") from None
    request = urllib.request.Request(uri, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with _opener.open(request, timeout=JWKS_TIMEOUT) as response:
            body = response.read(JWKS_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError):
        raise invalid_client("The client's jwks_uri could not be fetched") from None
    if len(body) > JWKS_MAX_BYTES:
        raise invalid_client("The client's JWK Set is too large")
    try:
        data = json.loads(body)
        return list(KeySet.import_key_set(data).keys)
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise invalid_client("The client's jwks_uri holds no valid JWK Set") from None


@dataclass(frozen=True)
class _Fetched:
    keys: list[Key]
    at: datetime


class JwksCache:
    """Per-process cache of clients' JWK Sets, by URI (a cache only: each worker keeps its
    own, and losing it costs one fetch)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Fetched] = {}

    def get(self, uri: str, *, refetch: bool = False) -> list[Key]:
        now = clock.now()
        entry = self._entries.get(uri)
        if entry is not None:
            age = now - entry.at
            if age < (JWKS_REFETCH_INTERVAL if refetch else JWKS_CACHE_TTL):
                return entry.keys
        keys = fetch_jwks(uri)
        with self._lock:
            if len(self._entries) >= JWKS_CACHE_SIZE:
                self._entries.pop(next(iter(self._entries)))
            self._entries[uri] = _Fetched(keys, now)
        return keys

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


jwks_cache = JwksCache()


def install(server: Any) -> None:
    """Give the authorization server our authenticator and the two assertion methods. Authlib
    builds its ClientAuthentication lazily into `_client_auth` and has no setter for it."""
    server._client_auth = ClientAuthentication(server.query_client)
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    server.register_client_auth_method(ClientSecretJWT.CLIENT_AUTH_METHOD, ClientSecretJWT())
