"""Subject identifiers (OIDC Core §8): public, or pairwise per sector for clients that ask."""

from __future__ import annotations

import base64
import hashlib

from idp import runtime
from idp import security
from idp.models import Client
from idp.models import User


def subject_for(user: User, client: Client) -> str:
    """The `sub` this client sees. Pairwise: the same user looks different to each sector, and
    the value cannot be reversed without the server's secret (OIDC Core §8.1)."""
    if client.subject_type != "pairwise" or not client.sector_identifier:
        return user.id
    salt = security.derive_key(runtime.settings().secret_key or "", "idp/pairwise-subject/v1")
    digest = hashlib.sha256(salt + client.sector_identifier.encode() + b"|" + user.id.encode())
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
