"""Outgoing mail: one message, a text and an HTML body, over a real SMTP client.

Configure with ``IDP_SMTP_URL`` (``settings().smtp_url``):

``smtp://[user:password@]host[:port]``
    Plain SMTP (port 25 by default) that upgrades to TLS with STARTTLS whenever the server
    offers it (opportunistic, RFC 3207; the certificate is verified all the same). The
    credentials are sent only over TLS, or to a server on the loopback interface.
``smtp+starttls://[user:password@]host[:port]``
    Submission (port 587 by default): STARTTLS is required; a server that does not offer it
    gets nothing, not even the credentials.
``smtps://[user:password@]host[:port]``
    Implicit TLS from the first byte (port 465 by default, RFC 8314).

Query parameters: ``timeout`` (seconds for connecting and for each command, default 10).
User name and password are percent-decoded (``%40`` for ``@``).

Without ``IDP_SMTP_URL`` a message is written to the log (logger ``idp.mail``, INFO), with its
text body, so that links and codes reach whoever runs the demo. With it, the log only says who
got which message; the SMTP password never reaches the log.

With ``IDP_SMTP_URL``, `send` does not talk to the SMTP server: it queues the message in the
caller's transaction (the `outgoing_mail` outbox, idp.services.outgoing_mail), so views send
*before* they commit, and a mail exists exactly when the change it announces does. Once the
request has committed, an `after_request` hook (idp.mail_delivery) sends this request's
messages on a short-lived background thread: the page does not wait for the SMTP server (nor
does its answering time tell whether an address has an account), and a failure is logged,
retried with backoff (`idp mail deliver` resumes it from cron or after a restart), and never
turns the page into an error.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from email.utils import make_msgid
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask import current_app
from flask import g
from flask import url_for

from idp import runtime
from idp.models import OutgoingMail
from idp.models import User
from idp.services import outgoing_mail
from idp.services.email_verification import Issued

log = logging.getLogger(__name__)
if log.level == logging.NOTSET:
    log.setLevel(logging.INFO)  # the log is the mailbox of the demo: show it by default

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
DEFAULT_TIMEOUT = 10.0
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
QUEUED_KEY = "idp_outgoing_mail"  # flask.g: ids of the rows this request queued


class MailConfigError(ValueError):
    """IDP_SMTP_URL cannot be used (unknown scheme, bad port or timeout)."""


@dataclass(frozen=True)
class SmtpConfig:
    scheme: str  # smtp | smtp+starttls | smtps
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise MailConfigError(
                "IDP_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://"
            )
        if not parts.hostname:
            raise MailConfigError("IDP_SMTP_URL has no host")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
            timeout = float(parse_qs(parts.query).get("timeout", [DEFAULT_TIMEOUT])[0])
        except ValueError:
            raise MailConfigError("IDP_SMTP_URL has an invalid port or timeout") from None
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )

    def __repr__(self) -> str:  # never the password, whoever logs this
        return f"SmtpConfig({self.scheme}://{self.host}:{self.port})"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def deliver(config: SmtpConfig, message: EmailMessage) -> None:
    """One SMTP conversation; raises smtplib/ssl/OSError exceptions on failure."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with smtp:
        smtp.ehlo()
        encrypted = config.scheme == "smtps"
        if not encrypted and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
            encrypted = True
        if config.scheme == "smtp+starttls" and not encrypted:
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
        if config.username is not None:
            if not encrypted and config.host not in LOOPBACK:
                raise smtplib.SMTPNotSupportedError(
                    "refusing to send credentials over an unencrypted connection"
                )
            smtp.login(config.username, config.password or "")
        smtp.send_message(message)


def absolute_url(endpoint: str, **values: Any) -> str:
    """A link for a message: the issuer's origin plus the route, never the request's Host
    header (a forged Host would otherwise put an attacker's site in a reset link)."""
    issuer = urlsplit(runtime.settings().issuer)
    return f"{issuer.scheme}://{issuer.netloc}{url_for(endpoint, **values)}"


def render(template: str, **context: Any) -> tuple[str, str, str]:
    """(subject, text, html) from templates/mail/<template>.txt and .html. The text template
    sets the subject: ``{% set subject = "..." %}``."""
    env = current_app.jinja_env
    current_app.update_template_context(context)
    text_template = env.get_template(f"mail/{template}.txt")
    text = text_template.render(context)
    subject = str(getattr(text_template.make_module(context), "subject", "")).strip()
    html = env.get_template(f"mail/{template}.html").render(context)
    return subject, text, html


def build(to: str, subject: str, text: str, html: str) -> EmailMessage:
    settings = runtime.settings()
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=urlsplit(settings.issuer).hostname or "localhost")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(to: str, template: str, **context: Any) -> OutgoingMail | None:
    """Render one message and queue it in the caller's transaction (flushed, not committed);
    the request's `after_request` hook delivers it once committed. Without IDP_SMTP_URL the
    message goes to the log instead. Never fails the page over a broken template."""
    try:
        subject, text, html = render(template, to=to, **context)
        message = build(to, subject, text, html)
    except Exception:  # a broken template must not break the page
        log.exception("could not build the %s mail to %s", template, to)
        return None
    if not runtime.settings().smtp_url:
        log.info("mail (IDP_SMTP_URL unset) to %s: %s\n%s", to, subject, text)
        return None
    row = outgoing_mail.enqueue(to, template, message.as_bytes())
    g.setdefault(QUEUED_KEY, []).append(row.id)
    return row


def queued_ids() -> list[str]:
    """The rows `send` queued in this app context (request), taken: a second call is empty."""
    ids: list[str] = g.pop(QUEUED_KEY, [])
    return ids


# --- the messages of the account pages ------------------------------------------------------


def send_verification(user: User, issued: Issued) -> OutgoingMail | None:
    """Link and code for `verify_email` (current address) or `change_email` (the new one)."""
    settings = runtime.settings()
    template = "change_email" if issued.token.purpose == "change_email" else "verify_email"
    return send(
        issued.token.email,
        template,
        name=user.name,
        code=issued.code,
        code_minutes=settings.email_code_lifetime // 60,
        link=absolute_url("registration.verify_email", token=issued.link_token),
        link_hours=settings.email_link_lifetime // 3600,
    )


def send_password_reset(user: User, issued: Issued) -> OutgoingMail | None:
    return send(
        user.email,
        "password_reset",
        name=user.name,
        link=absolute_url("registration.reset_password", token=issued.link_token),
        link_minutes=runtime.settings().password_reset_lifetime // 60,
    )


def send_registration_existing(user: User) -> OutgoingMail | None:
    return send(
        user.email,
        "registration_existing",
        name=user.name,
        login_link=absolute_url("auth.login"),
        forgot_link=absolute_url("registration.forgot_password"),
    )


def send_email_changed(user: User, previous_email: str) -> OutgoingMail | None:
    """The notice to the address the account just left."""
    return send(previous_email, "email_changed", name=user.name, new_email=user.email)


def send_password_changed(user: User, *, reset: bool) -> OutgoingMail | None:
    return send(
        user.email,
        "password_changed",
        name=user.name,
        reset=reset,
        forgot_link=absolute_url("registration.forgot_password"),
    )
