"""The process's view of the signing keys: parsed once, refreshed cheaply.

Each worker keeps the parsed joserfc keys by kid. It re-reads the list of published kids at
most every REFRESH_SECONDS (a small query, no decryption), so a rotation done by the CLI in
another process is picked up without a restart; a key is decrypted and parsed once per process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from joserfc.jwk import ECKey
from joserfc.jwk import JWKRegistry
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from idp.services import signing_keys

REFRESH_SECONDS = 30.0


@dataclass(frozen=True)
class KeySnapshot:
    signing: dict[str, tuple[str, RSAKey | ECKey]]  # alg -> (kid, private key)
    verification: KeySet  # every published public key
    jwks: dict[str, list[dict[str, str]]]
    etag: str


class KeyRing:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parsed: dict[str, RSAKey | ECKey] = {}
        self._snapshot: KeySnapshot | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    def snapshot(self) -> KeySnapshot:
        if self._snapshot is None or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            with self._lock:
                if self._snapshot is None or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
                    self._snapshot = self._load()
                    self._loaded_at = time.monotonic()
        return self._snapshot

    def _load(self) -> KeySnapshot:
        records = signing_keys.published()
        signing: dict[str, tuple[str, RSAKey | ECKey]] = {}
        public_keys = []
        for record in records:
            key = self._parsed.get(record.kid)
            if key is None:
                key = JWKRegistry.import_key(
                    signing_keys.load_private_jwk(record),
                    parameters={"kid": record.kid, "alg": record.alg, "use": "sig"},
                )
                self._parsed[record.kid] = key  # type: ignore[assignment]
            if record.retired_at is None and record.alg not in signing:
                signing[record.alg] = (record.kid, key)  # newest first
            public_keys.append(record.public_jwk)
        verification = KeySet([JWKRegistry.import_key(jwk) for jwk in public_keys])
        etag = '"' + "-".join(sorted(r.kid[:12] for r in records)) + '"'
        return KeySnapshot(signing, verification, {"keys": public_keys}, etag)

    def signing_key(self, alg: str) -> tuple[str, RSAKey | ECKey]:
        snapshot = self.snapshot()
        if alg not in snapshot.signing:
            self.invalidate()
            snapshot = self.snapshot()
        return snapshot.signing[alg]

    def verification_keys(self, kid: str | None) -> KeySet:
        """Public keys; an unknown kid forces one re-read (a rotation in another worker)."""
        snapshot = self.snapshot()
        unknown = kid is not None and all(k.kid != kid for k in snapshot.verification.keys)
        if unknown and time.monotonic() - self._loaded_at > 1.0:  # bounded: no reload storms
            self.invalidate()
            snapshot = self.snapshot()
        return snapshot.verification
