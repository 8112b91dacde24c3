"""The shape every client-to-server OAuth POST must have (/token, /par, /revoke, /introspect):
RFC 6749 §3.2 and §5.2, RFC 7009 §2.1, RFC 7662 §2.1, RFC 9126 §2.1."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import request

# RFC 8707 §2: `resource` may be repeated; nothing else may.
REPEATABLE = ("resource",)


def check_form_post(body_only: tuple[str, ...] = ()) -> None:
    """Form-encoded, each parameter once, and `body_only` parameters never in the query
    (where they would leak into logs). Raises InvalidRequestError."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidRequestError("Send the parameters form-encoded")
    if any(name in request.args for name in body_only):
        raise InvalidRequestError("Send the parameters in the request body")
    repeated = [k for k in request.form if k not in REPEATABLE and len(request.form.getlist(k)) > 1]
    if repeated:
        raise InvalidRequestError(f"Repeated parameter {repeated[0]}")
