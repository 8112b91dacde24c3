"""Settings: the only module that reads ``os.environ`` (DESIGN §5)."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

SECRET_KEY_FILE = "secret_key"


@dataclass(frozen=True)
class Settings:
    issuer: str = "http://localhost:8000"
    database_url: str | None = None
    instance_path: str = "./instance"
    secret_key: str | None = None
    redis_url: str | None = None
    smtp_url: str | None = None
    # Lifetimes in seconds; clients may override the token ones.
    code_lifetime: int = 60
    access_token_lifetime: int = 3600
    id_token_lifetime: int = 3600
    refresh_token_lifetime: int = 14 * 24 * 3600  # idle: each use slides it forward
    refresh_token_absolute_lifetime: int = 90 * 24 * 3600  # from the sign-in, never extended
    # A just-rotated refresh token presented again this soon gets the same successor back
    # (a lost response, two tabs) instead of being treated as stolen.
    refresh_token_reuse_grace: int = 5
    par_lifetime: int = 60
    session_lifetime: int = 14 * 24 * 3600
    # Argon2id cost: OWASP's second recommended setting (m=19 MiB, t=2, p=1);
    # tests pass cheap values.
    argon2_time_cost: int = 2
    argon2_memory_cost: int = 19456
    argon2_parallelism: int = 1
    # How many reverse proxies in front set X-Forwarded-For/-Proto/-Host (0: trust none).
    trusted_proxies: int = 0
    allow_internal_callbacks: bool | None = None  # None: only when the issuer is on loopback
    rate_limits_enabled: bool = True
    login_rate_limit: str = "10/minute"  # per client IP
    login_account_rate_limit: str = "20/hour"  # per e-mail address, whatever the IP
    # Mail: without IDP_SMTP_URL, messages are written to the log (the demo still works).
    mail_from: str = "IdP <no-reply@localhost>"
    # Accounts: e-mail codes and links, password resets.
    email_code_lifetime: int = 5 * 60
    email_code_max_attempts: int = 5
    email_link_lifetime: int = 24 * 3600
    password_reset_lifetime: int = 30 * 60
    password_min_length: int = 8
    password_min_score: int = 3  # zxcvbn 0..4; 3 = "safely unguessable"
    # Progressive lockout: after `lockout_threshold` consecutive failures (password or second
    # factor), sign-in is refused for lockout_base_seconds, doubling per further failure.
    lockout_threshold: int = 5
    lockout_base_seconds: int = 60
    lockout_max_seconds: int = 3600
    mfa_challenge_lifetime: int = 5 * 60  # between the password and the second factor
    trusted_device_days: int = 30
    # Adding a way into the account (a passkey, a new e-mail address, a first password) needs
    # a sign-in at most this old (RFC 9470 max_age).
    recent_auth_seconds: int = 10 * 60
    webauthn_challenge_lifetime: int = 5 * 60
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            issuer=env.get("IDP_ISSUER", cls.issuer),
            database_url=env.get("IDP_DATABASE_URL") or None,
            instance_path=env.get("IDP_INSTANCE_PATH", cls.instance_path),
            secret_key=env.get("IDP_SECRET_KEY") or None,
            redis_url=env.get("IDP_REDIS_URL") or None,
            smtp_url=env.get("IDP_SMTP_URL") or None,
            mail_from=env.get("IDP_MAIL_FROM", cls.mail_from),
            trusted_device_days=int(env.get("IDP_TRUSTED_DEVICE_DAYS", cls.trusted_device_days)),
            allow_internal_callbacks=(env.get("IDP_ALLOW_INTERNAL_CALLBACKS") or "").lower()
            in ("1", "true", "yes")
            or None,
            trusted_proxies=int(env.get("IDP_TRUSTED_PROXIES", cls.trusted_proxies)),
            refresh_token_reuse_grace=int(
                env.get("IDP_REFRESH_TOKEN_REUSE_GRACE", cls.refresh_token_reuse_grace)
            ),
        )

    def resolved(self) -> Settings:
        """Fill in the embedded defaults: instance folder, SQLite file, secret key."""
        issuer = self.issuer.rstrip("/")
        parts = urlsplit(issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(f"IDP_ISSUER must be an absolute http(s) URL, got {self.issuer!r}")
        instance = Path(self.instance_path).resolve()
        instance.mkdir(parents=True, exist_ok=True)
        database_url = self.database_url or f"sqlite:///{instance / 'idp.sqlite3'}"
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        secret_key = self.secret_key or _instance_secret_key(instance)
        return replace(
            self,
            issuer=issuer,
            instance_path=str(instance),
            database_url=database_url,
            secret_key=secret_key,
        )

    @property
    def internal_callbacks_allowed(self) -> bool:
        """May jwks_uri and back-channel logout reach loopback and private addresses?"""
        if self.allow_internal_callbacks is not None:
            return self.allow_internal_callbacks
        return urlsplit(self.issuer).hostname in ("localhost", "127.0.0.1", "::1")

    @property
    def https(self) -> bool:
        return self.issuer.startswith("https://")


def _instance_secret_key(instance: Path) -> str:
    path = instance / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    log.warning(
        "IDP_SECRET_KEY is not set: generated one in %s. Set IDP_SECRET_KEY in production, "
        "and keep it: signing keys and stored secrets are encrypted with it.",
        path,
    )
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
