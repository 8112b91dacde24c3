"""Who is calling the management API, and may they do this? (DESIGN §5, rule 12)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from typing import TypeVar

from flask import g
from flask import request
from flask_smorest import Blueprint

from idp import errors
from idp.extensions import db
from idp.models import Client
from idp.models import Tenant
from idp.oauth.verification import InvalidToken
from idp.oauth.verification import verify_access_token
from idp.services import api_keys
from idp.services import audit
from idp.services import clients
from idp.services import tenants

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Caller:
    kind: str  # "api_key" or "client"
    id: str
    tenant_id: str | None  # None: a platform key, which may act on any tenant
    scopes: frozenset[str]
    # The public client_id of the one application a restricted API key may act on; None for
    # unrestricted keys and client_credentials tokens (never restricted).
    application: str | None = None

    def has(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(
            self.kind, self.id, ip=request.remote_addr, user_agent=request.user_agent.string
        )


def _credential() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-Api-Key") or None


def _authenticate() -> None:
    credential = _credential()
    if not credential:
        raise errors.AuthenticationFailed("Send an API key or an access token")
    if credential.startswith(api_keys.KEY_PREFIX):
        key = api_keys.authenticate(credential)
        db.session.commit()  # last_used_at, at most once a minute
        if key is None:
            raise errors.AuthenticationFailed("The API key is invalid, expired or revoked")
        g.caller = Caller(
            "api_key", key.id, key.tenant_id, frozenset(key.scopes), application=key.application
        )
        return
    try:
        verified = verify_access_token(credential)
    except InvalidToken as exc:
        raise errors.AuthenticationFailed(f"The access token is {exc}") from None
    client: Client | None = clients.get_by_client_id(str(verified.claims.get("client_id", "")))
    if verified.user is not None or client is None:
        raise errors.AuthenticationFailed("Use a client_credentials access token")
    scopes = frozenset(s for s in verified.scopes if s in api_keys.SCOPES and s != "*")
    g.caller = Caller("client", client.client_id, client.tenant_id, scopes)


def install(blueprint: Blueprint) -> None:
    """Every request to the blueprint is authenticated first (once, however many apps)."""
    if _authenticate not in blueprint.before_request_funcs.get(None, []):
        blueprint.before_request(_authenticate)


def caller() -> Caller:
    current: Caller = g.caller
    return current


def require_scope(scope: str, *, application_param: str | None = None) -> Callable[[F], F]:
    """Wraps every management view: 403 naming the missing scope, and 403 for a key
    restricted to an application unless the view concerns that very application.

    A view about one application opts in by naming the URL parameter that carries its public
    client_id; every other view refuses restricted keys (secure by default):

        @require_scope("clients:read", application_param="client_id")
        def get(self, client_id: str) -> Client: ...
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            current = caller()
            if current.application is not None:
                named = kwargs.get(application_param) if application_param else None
                if named != current.application:
                    raise errors.Forbidden(
                        f"This API key is restricted to application {current.application}"
                    )
            if not current.has(scope):
                raise errors.Forbidden(f"This credential lacks the {scope} scope")
            g.application_checked = True
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def tenant_id() -> str:
    """The tenant this request acts on: the caller's own, or for a platform key the one named
    by X-Tenant-Id (id or slug; the default tenant when absent)."""
    current = caller()
    if current.application is not None and not g.get("application_checked"):
        # A view that skipped require_scope must still not serve a restricted key.
        raise errors.Forbidden(f"This API key is restricted to application {current.application}")
    wanted = request.headers.get("X-Tenant-Id")
    if current.tenant_id is not None:
        if wanted and wanted != current.tenant_id and _resolve(wanted) != current.tenant_id:
            raise errors.Forbidden("This credential acts only on its own tenant")
        return current.tenant_id
    if not wanted:
        return tenants.ensure_default().id
    resolved = _resolve(wanted)
    if resolved is None:
        raise errors.NotFound("No such tenant")
    return resolved


def _resolve(reference: str) -> str | None:
    if len(reference) > 64:
        return None
    tenant = db.session.get(Tenant, reference)
    if tenant is None:
        tenant = db.session.scalar(db.select(Tenant).where(Tenant.slug == reference))
    return tenant.id if tenant is not None else None
