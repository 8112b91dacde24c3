"""Randomness, hashing, encryption at rest and constant-time comparison (STYLE rule 14).

Secrets the server generates (client secrets, codes, refresh and session tokens) carry at least
256 bits of entropy, so they are stored as HMAC-SHA-256 under a server-side key: a lookup costs
microseconds. Secrets people choose (passwords) are stored with Argon2id. Secrets that must be
read back (private signing keys) are encrypted with AES-256-GCM. Every key is derived from
IDP_SECRET_KEY with HKDF, one per purpose.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A 256-bit key for one purpose, so no key material serves two uses."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return hkdf.derive(secret_key.encode())


@dataclass
class _Keys:
    hmac_key: bytes = b""
    encryption_key: bytes = b""
    hasher: PasswordHasher | None = None


_keys = _Keys()


def configure(secret_key: str, *, time_cost: int, memory_cost: int, parallelism: int) -> None:
    """Bind the process to one IDP_SECRET_KEY; called once by create_app."""
    _keys.hmac_key = derive_key(secret_key, "idp/secret-hash/v1")
    _keys.encryption_key = derive_key(secret_key, "idp/encryption-at-rest/v1")
    _keys.hasher = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
    )


def random_token(nbytes: int = 32) -> str:
    """URL-safe random string with ``nbytes`` of entropy."""
    return secrets.token_urlsafe(nbytes)


def random_string(alphabet: str, length: int) -> str:
    """`length` characters drawn uniformly from `alphabet` (codes people type)."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hash_secret(value: str) -> str:
    """Keyed hash of a server-generated secret, for storage and indexed lookup."""
    if not _keys.hmac_key:
        raise RuntimeError("security.configure() has not been called")
    return hmac.new(_keys.hmac_key, value.encode(), hashlib.sha256).hexdigest()


def verify_secret(value: str, stored_hash: str | None) -> bool:
    if not stored_hash:
        return False
    return constant_time_equals(hash_secret(value), stored_hash)


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hash_password(password: str) -> str:
    assert _keys.hasher is not None, "security.configure() has not been called"
    return _keys.hasher.hash(password)


# A hash of a random password: verifying against it costs the same as a real check, so a
# missing account and a wrong password take the same time.
_DUMMY_HASHES: dict[int, str] = {}


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Argon2id check; spends the same time when there is no stored hash."""
    hasher = _keys.hasher
    assert hasher is not None, "security.configure() has not been called"
    if stored_hash is None:
        dummy = _DUMMY_HASHES.setdefault(id(hasher), hasher.hash(random_token()))
        try:
            hasher.verify(dummy, password)
        except VerificationError:
            pass
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str) -> bool:
    assert _keys.hasher is not None
    return _keys.hasher.check_needs_rehash(stored_hash)


def encrypt(plaintext: bytes, associated_data: bytes = b"") -> str:
    """AES-256-GCM; the result is ``v1.<nonce+ciphertext, base64url>``."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_keys.encryption_key).encrypt(nonce, plaintext, associated_data)
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(token: str, associated_data: bytes = b"") -> bytes:
    version, _, body = token.partition(".")
    if version != "v1":
        raise ValueError("unknown ciphertext version")
    raw = base64.urlsafe_b64decode(body)
    return AESGCM(_keys.encryption_key).decrypt(raw[:12], raw[12:], associated_data)
