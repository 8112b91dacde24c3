"""A small Python client for the management API (/management/v1, DESIGN §5).

    from idp.client import ManagementClient

    api = ManagementClient("https://idp.example.com", api_key="idp_...")
    user = api.create_user("alice@example.com", password="...", email_verified=True)
    for event in api.iter_audit_events(user_id=user["id"]):
        ...

Needs `requests` (pip install 'idp[client]'); it is imported when a client is made, so
importing `idp` never needs it. Errors are raised as ManagementApiError, parsed from the
server's RFC 9457 problem+json.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from typing import Any
from typing import Generic
from typing import TypeVar
from urllib.parse import quote

PREFIX = "/management/v1"
T = TypeVar("T")

JSON = dict[str, Any]


@dataclass
class Page(Generic[T]):
    """One page of a list: `next_cursor` is None on the last page (or for offset paging)."""

    items: list[T]
    total: int
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class ManagementApiError(Exception):
    """An error answer from the management API (RFC 9457 problem details)."""

    status: int
    title: str
    detail: str | None = None
    type: str = "about:blank"
    errors: dict[str, Any] = field(default_factory=dict)
    body: Any = None

    def __str__(self) -> str:
        text = f"{self.status} {self.title}"
        if self.detail:
            text += f": {self.detail}"
        if self.errors:
            text += f" {self.errors}"
        return text

    @classmethod
    def from_response(cls, response: Any) -> ManagementApiError:
        status = int(response.status_code)
        reason = str(getattr(response, "reason", "") or "") or f"HTTP {status}"
        try:
            body = response.json()
        except ValueError:
            text = (response.text or "").strip()
            return cls(status, reason, text[:500] or None, body=response.text)
        if not isinstance(body, dict):
            return cls(status, reason, None, body=body)
        errors = body.get("errors")
        return cls(
            status=int(body.get("status") or status),
            title=str(body.get("title") or reason),
            detail=body.get("detail") if body.get("detail") is not None else None,
            type=str(body.get("type") or "about:blank"),
            errors=errors
            if isinstance(errors, dict)
            else ({} if errors is None else {"_": errors}),
            body=body,
        )


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_query_value(v) for v in value]
    return value


def _clean(values: Mapping[str, Any]) -> JSON:
    """Leave out the arguments the caller did not give (None)."""
    return {name: value for name, value in values.items() if value is not None}


def _segment(value: str) -> str:
    return quote(str(value), safe="")


class ManagementClient:
    """The management API over HTTP. Give an API key or a client_credentials access token;
    `tenant_id` (id or slug) picks the tenant a platform key acts on (X-Tenant-Id)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        access_token: str | None = None,
        tenant_id: str | None = None,
        timeout: float = 10,
        session: Any = None,
    ) -> None:
        if session is None:
            import requests  # lazy: only the client needs it

            session = requests.Session()
        self.base_url = base_url.rstrip("/")
        self.credential = api_key or access_token
        self.tenant_id = tenant_id
        self.timeout = timeout
        self.session = session

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        close = getattr(self.session, "close", None)
        if close is not None:
            close()

    def for_tenant(self, tenant_id: str | None) -> ManagementClient:
        """The same credential and session acting on another tenant (platform keys)."""
        return ManagementClient(
            self.base_url,
            api_key=self.credential,
            tenant_id=tenant_id,
            timeout=self.timeout,
            session=self.session,
        )

    # --- transport ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request under /management/v1; the decoded JSON body, or None for 204."""
        headers = {"Accept": "application/json"}
        if self.credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        if self.tenant_id:
            headers["X-Tenant-Id"] = self.tenant_id
        query = {k: _query_value(v) for k, v in _clean(params or {}).items()}
        response = self.session.request(
            method,
            f"{self.base_url}{PREFIX}{path}",
            params=query or None,
            json=json,
            headers=headers,
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise ManagementApiError.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ManagementApiError(
                response.status_code,
                "Invalid response",
                "The server did not answer with JSON",
                body=response.text,
            ) from None

    def _page(self, path: str, params: Mapping[str, Any]) -> Page[JSON]:
        body = self.request("GET", path, params=params)
        return Page(
            items=list(body.get("items", [])),
            total=int(body.get("total", 0)),
            next_cursor=body.get("next_cursor"),
        )

    def _iterate(
        self, fetch: Callable[..., Page[JSON]], page_size: int, filters: Mapping[str, Any]
    ) -> Iterator[JSON]:
        """Every item: follows next_cursor, or offsets for lists that page by offset only."""
        cursor: str | None = None
        used_cursor = False
        seen = 0
        while True:
            if cursor is not None:
                page = fetch(limit=page_size, cursor=cursor, **filters)
            else:
                page = fetch(limit=page_size, offset=seen or None, **filters)
            yield from page.items
            seen += len(page.items)
            if page.next_cursor:
                cursor, used_cursor = page.next_cursor, True
            elif not used_cursor and page.items and seen < page.total:
                cursor = None
            else:
                return

    # --- users -------------------------------------------------------------------------------

    def list_users(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
        search: str | None = None,
        email: str | None = None,
        role: str | None = None,
        is_active: bool | None = None,
        email_verified: bool | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        provider: str | None = None,
    ) -> Page[JSON]:
        params = dict(locals())
        params.pop("self")
        return self._page("/users", params)

    def iter_users(self, *, page_size: int = 100, **filters: Any) -> Iterator[JSON]:
        return self._iterate(self.list_users, page_size, filters)

    def create_user(
        self,
        email: str,
        *,
        password: str | None = None,
        name: str | None = None,
        email_verified: bool | None = None,
        roles: list[str] | None = None,
        **fields: Any,
    ) -> JSON:
        body = _clean(
            {
                "email": email,
                "password": password,
                "name": name,
                "email_verified": email_verified,
                "roles": roles,
                **fields,
            }
        )
        result: JSON = self.request("POST", "/users", json=body)
        return result

    def get_user(self, user_id: str) -> JSON:
        result: JSON = self.request("GET", f"/users/{_segment(user_id)}")
        return result

    def update_user(self, user_id: str, **changes: Any) -> JSON:
        """PATCH: only the fields given change (None is sent, to clear a field)."""
        result: JSON = self.request("PATCH", f"/users/{_segment(user_id)}", json=changes)
        return result

    def delete_user(self, user_id: str) -> None:
        self.request("DELETE", f"/users/{_segment(user_id)}")

    def set_password(self, user_id: str, password: str) -> Any:
        return self.request(
            "POST", f"/users/{_segment(user_id)}/password", json={"password": password}
        )

    def block_user(self, user_id: str, reason: str | None = None) -> Any:
        return self.request(
            "POST", f"/users/{_segment(user_id)}/block", json=_clean({"reason": reason})
        )

    def unblock_user(self, user_id: str) -> Any:
        return self.request("POST", f"/users/{_segment(user_id)}/unblock")

    def list_user_sessions(
        self, user_id: str, *, include_revoked: bool | None = None, **params: Any
    ) -> Page[JSON]:
        params["include_revoked"] = include_revoked
        return self._page(f"/users/{_segment(user_id)}/sessions", params)

    def revoke_user_session(self, user_id: str, session_id: str) -> None:
        self.request("DELETE", f"/users/{_segment(user_id)}/sessions/{_segment(session_id)}")

    def revoke_user_sessions(self, user_id: str) -> int:
        body = self.request("DELETE", f"/users/{_segment(user_id)}/sessions")
        return int((body or {}).get("revoked", 0))

    def list_user_grants(
        self, user_id: str, *, include_revoked: bool | None = None, **params: Any
    ) -> Page[JSON]:
        params["include_revoked"] = include_revoked
        return self._page(f"/users/{_segment(user_id)}/grants", params)

    def revoke_user_grants(self, user_id: str) -> int:
        body = self.request("DELETE", f"/users/{_segment(user_id)}/grants")
        return int((body or {}).get("revoked", 0))

    def list_user_audit_events(
        self,
        user_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
    ) -> Page[JSON]:
        params = {"limit": limit, "cursor": cursor, "offset": offset}
        return self._page(f"/users/{_segment(user_id)}/audit-events", params)

    def iter_user_audit_events(self, user_id: str, *, page_size: int = 100) -> Iterator[JSON]:
        def fetch(**params: Any) -> Page[JSON]:
            return self.list_user_audit_events(user_id, **params)

        return self._iterate(fetch, page_size, {})

    def list_user_mfa(self, user_id: str) -> Page[JSON]:
        """The user's MFA enrolments (totp, each webauthn credential, the backup-code set)."""
        return self._page(f"/users/{_segment(user_id)}/mfa", {})

    def reset_user_mfa(self, user_id: str, method: str | None = None) -> int:
        """Remove one method's enrolments (totp, webauthn, backup_codes) or, without
        `method`, all of them; returns how many were removed."""
        path = f"/users/{_segment(user_id)}/mfa"
        if method is not None:
            path += f"/{_segment(method)}"
        body = self.request("DELETE", path)
        return int((body or {}).get("removed", 0))

    def list_user_identities(self, user_id: str) -> Page[JSON]:
        return self._page(f"/users/{_segment(user_id)}/identities", {})

    def unlink_user_identity(self, user_id: str, identity_id: str, *, force: bool = False) -> None:
        """`force` unlinks even the user's last way to sign in (409 without it)."""
        self.request(
            "DELETE",
            f"/users/{_segment(user_id)}/identities/{_segment(identity_id)}",
            params={"force": True} if force else None,
        )

    # --- clients -----------------------------------------------------------------------------

    def list_clients(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
        search: str | None = None,
    ) -> Page[JSON]:
        params = {"limit": limit, "cursor": cursor, "offset": offset, "search": search}
        return self._page("/clients", params)

    def iter_clients(self, *, page_size: int = 100, **filters: Any) -> Iterator[JSON]:
        return self._iterate(self.list_clients, page_size, filters)

    def create_client(
        self,
        name: str,
        *,
        redirect_uris: list[str] | None = None,
        post_logout_redirect_uris: list[str] | None = None,
        public: bool | None = None,
        grant_types: list[str] | None = None,
        scopes: list[str] | None = None,
        token_endpoint_auth_method: str | None = None,
        skip_consent: bool | None = None,
        **fields: Any,
    ) -> JSON:
        """The new client; a confidential one carries `client_secret`, shown this once."""
        body = _clean(
            {
                "name": name,
                "redirect_uris": redirect_uris,
                "post_logout_redirect_uris": post_logout_redirect_uris,
                "public": public,
                "grant_types": grant_types,
                "scopes": scopes,
                "token_endpoint_auth_method": token_endpoint_auth_method,
                "skip_consent": skip_consent,
                **fields,
            }
        )
        result: JSON = self.request("POST", "/clients", json=body)
        return result

    def get_client(self, client_id: str) -> JSON:
        result: JSON = self.request("GET", f"/clients/{_segment(client_id)}")
        return result

    def update_client(self, client_id: str, **changes: Any) -> JSON:
        result: JSON = self.request("PATCH", f"/clients/{_segment(client_id)}", json=changes)
        return result

    def delete_client(self, client_id: str) -> None:
        self.request("DELETE", f"/clients/{_segment(client_id)}")

    def rotate_client_secret(self, client_id: str) -> JSON:
        """{client_id, client_secret}: the new secret, shown this once."""
        result: JSON = self.request("POST", f"/clients/{_segment(client_id)}/secret")
        return result

    # --- API keys ----------------------------------------------------------------------------

    def list_api_keys(
        self, *, limit: int | None = None, cursor: str | None = None, offset: int | None = None
    ) -> Page[JSON]:
        return self._page("/api-keys", {"limit": limit, "cursor": cursor, "offset": offset})

    def iter_api_keys(self, *, page_size: int = 100) -> Iterator[JSON]:
        return self._iterate(self.list_api_keys, page_size, {})

    def create_api_key(
        self,
        name: str,
        scopes: list[str],
        *,
        expires_at: datetime | str | None = None,
        application: str | None = None,
    ) -> JSON:
        """The new key's record plus `key`, the secret, shown this once. `application` (a
        client_id) restricts the key to that client's operations."""
        if isinstance(expires_at, datetime):
            expires_at = expires_at.isoformat()
        body = _clean(
            {
                "name": name,
                "scopes": list(scopes),
                "expires_at": expires_at,
                "application": application,
            }
        )
        result: JSON = self.request("POST", "/api-keys", json=body)
        return result

    def get_api_key(self, key_id: str) -> JSON:
        result: JSON = self.request("GET", f"/api-keys/{_segment(key_id)}")
        return result

    def revoke_api_key(self, key_id: str) -> None:
        self.request("DELETE", f"/api-keys/{_segment(key_id)}")

    delete_api_key = revoke_api_key

    # --- tenants (platform keys) -------------------------------------------------------------

    def list_tenants(
        self, *, limit: int | None = None, cursor: str | None = None, offset: int | None = None
    ) -> Page[JSON]:
        return self._page("/tenants", {"limit": limit, "cursor": cursor, "offset": offset})

    def iter_tenants(self, *, page_size: int = 100) -> Iterator[JSON]:
        return self._iterate(self.list_tenants, page_size, {})

    def create_tenant(self, slug: str, name: str, **fields: Any) -> JSON:
        result: JSON = self.request("POST", "/tenants", json={"slug": slug, "name": name, **fields})
        return result

    def get_tenant(self, tenant_id: str) -> JSON:
        result: JSON = self.request("GET", f"/tenants/{_segment(tenant_id)}")
        return result

    def update_tenant(self, tenant_id: str, **changes: Any) -> JSON:
        result: JSON = self.request("PATCH", f"/tenants/{_segment(tenant_id)}", json=changes)
        return result

    # --- audit events and stats --------------------------------------------------------------

    def list_audit_events(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
        event_type: str | None = None,
        status: str | None = None,
        user_id: str | None = None,
        client_id: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
    ) -> Page[JSON]:
        """`from_` is sent as the `from` query parameter."""
        params = dict(locals())
        params.pop("self")
        params["from"] = params.pop("from_")
        return self._page("/audit-events", params)

    def iter_audit_events(self, *, page_size: int = 100, **filters: Any) -> Iterator[JSON]:
        return self._iterate(self.list_audit_events, page_size, filters)

    def get_stats(self) -> JSON:
        result: JSON = self.request("GET", "/stats")
        return result
