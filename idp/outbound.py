"""Requests the server makes on a client's behalf (jwks_uri, back-channel logout) go only to
public addresses: a registered URL must not reach the internal network (SSRF, OWASP ASVS 12.6).
A deployment whose issuer is on loopback (development, tests) may call loopback and private
addresses; so may one that sets IDP_ALLOW_INTERNAL_CALLBACKS.

The address is checked when the request is made. A name that resolves differently between the
check and the connection (DNS rebinding) is not covered; an egress proxy is the complete fix.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class DestinationRefused(ValueError):
    """The URL points at a non-public address (or cannot be resolved)."""


def check_destination(url: str, *, allow_internal: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("not an absolute http(s) URL")
    if allow_internal:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise DestinationRefused("the host does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise DestinationRefused("the host resolves to a non-public address")
