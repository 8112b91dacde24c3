"""Provider metadata (OIDC Discovery 1.0 §3, RFC 8414), built from configuration."""

from __future__ import annotations

from typing import Any

from idp.oauth import client_auth
from idp.oauth.claims import SUPPORTED_CLAIMS
from idp.oauth.claims import SUPPORTED_SCOPES
from idp.services.clients import SIGNING_ALGS


def metadata(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": ["1"],
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": False,
        "id_token_signing_alg_values_supported": list(SIGNING_ALGS),
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": list(client_auth.AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(
            client_auth.ASSERTION_SIGNING_ALGS
        ),
        "revocation_endpoint": f"{issuer}/revoke",
        "revocation_endpoint_auth_methods_supported": list(client_auth.AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(
            client_auth.ASSERTION_SIGNING_ALGS
        ),
        "introspection_endpoint": f"{issuer}/introspect",
        "introspection_endpoint_auth_methods_supported": list(
            client_auth.CONFIDENTIAL_AUTH_METHODS
        ),
        "introspection_endpoint_auth_signing_alg_values_supported": list(
            client_auth.ASSERTION_SIGNING_ALGS
        ),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "sid",
            "amr",
            "acr",
            *SUPPORTED_CLAIMS,
        ],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "authorization_response_iss_parameter_supported": True,
        "display_values_supported": ["page", "popup", "touch", "wap"],
        "ui_locales_supported": ["en"],
        "claim_types_supported": ["normal"],
        # OIDC Back-Channel Logout 1.0 §2.1; front-channel logout is not offered.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "service_documentation": f"{issuer}/",
    }
