"""Runs the mail outbox (services.outgoing_mail) and owns its units of work.

`deliver_all_due()` sends every due message once: `idp mail deliver` calls it (cron, after
a restart). `init_app` registers an `after_request` hook that, once a view has committed, starts
a daemon thread for the messages that request queued (`mail.send` lists them in `flask.g`),
so the page never waits for the SMTP server. Rows of a rolled-back transaction are simply not
there: nothing is sent for work that did not happen. The thread retries its own messages with
the outbox's backoff for at most BACKGROUND_BUDGET seconds; later retries are for
`idp mail deliver`.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from collections.abc import Collection
from dataclasses import dataclass
from email import message_from_bytes
from email import policy
from email.message import EmailMessage

from flask import Flask
from flask import Response
from flask import current_app

from idp import clock
from idp import mail
from idp import runtime
from idp.extensions import db
from idp.services import outgoing_mail

log = logging.getLogger("idp.mail")

BACKGROUND_BUDGET = 180.0  # seconds: covers the retries after 30 s and 2 min
MIN_WAIT = 0.2  # seconds between two passes of the thread

Sender = Callable[[mail.SmtpConfig, EmailMessage], None]


@dataclass(frozen=True)
class Report:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(*, ids: Collection[str] | None = None, sender: Sender | None = None) -> Report:
    """One pass over the due messages (only `ids`, when given): claim them (committed, so
    other deliverers skip them), then send each with no transaction open and commit its
    result. Nothing is claimed while IDP_SMTP_URL is unset, or unusable (MailConfigError is
    raised): the rows wait for a working configuration."""
    smtp_url = runtime.settings().smtp_url
    if not smtp_url:
        return Report()
    config = mail.SmtpConfig.from_url(smtp_url)
    claimed = outgoing_mail.claim_due(ids=ids)
    db.session.commit()
    send = sender or mail.deliver  # looked up at call time, so tests can replace it
    sent = retrying = failed = 0
    for item in claimed:
        if item.message is None:  # could not be decrypted: given up already
            failed += 1
            log.error("mail %s to %s given up: undecryptable", item.template, item.recipient)
            continue
        try:
            send(config, _parse(item.message))
        except Exception as exc:  # any failure to hand it over is a failed attempt
            error = _describe(exc, config)
            expected = isinstance(exc, smtplib.SMTPException | ssl.SSLError | OSError)
            row = outgoing_mail.record_failure(item, error)
            db.session.commit()
            given_up = row is not None and row.failed_at is not None
            failed += given_up
            retrying += not given_up
            log.error(
                "mail %s to %s not sent via %s (attempt %d%s): %s",
                item.template,
                item.recipient,
                config.endpoint,
                item.attempt,
                ", given up" if given_up else "",
                error,
                exc_info=None if expected else exc,
            )
        else:
            outgoing_mail.record_sent(item)
            db.session.commit()
            sent += 1
            log.info("mail %s sent to %s via %s", item.template, item.recipient, config.endpoint)
    return Report(sent, retrying, failed)


def deliver_all_due(*, sender: Sender | None = None) -> Report:
    """Passes of `deliver_due` until one finds nothing due: the whole backlog, once."""
    total = Report()
    while True:
        report = deliver_due(sender=sender)
        if report == Report():
            return total
        total = Report(
            total.sent + report.sent,
            total.retrying + report.retrying,
            total.failed + report.failed,
        )


def _parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _describe(exc: Exception, config: mail.SmtpConfig) -> str:
    """A short reason for the log and `last_error`: never the SMTP password."""
    text = repr(exc)
    if config.password:
        text = text.replace(config.password, "[password]")
    return text


# --- after the request ---------------------------------------------------------------------


def init_app(app: Flask) -> None:
    app.after_request(_deliver_queued)


def _deliver_queued(response: Response) -> Response:
    """after_request: the view has committed (or rolled back) by now."""
    ids = mail.queued_ids()
    if ids:
        start(current_app._get_current_object(), ids)  # type: ignore[attr-defined]
    return response


def start(app: Flask, ids: Collection[str]) -> threading.Thread:
    """Deliver `ids` in the background, with its own app context (and database session)."""
    thread = threading.Thread(target=_run, args=(app, list(ids)), name="idp-mail", daemon=True)
    thread.start()
    return thread


def _run(app: Flask, ids: list[str], budget: float = BACKGROUND_BUDGET) -> None:
    deadline = time.monotonic() + budget
    with app.app_context():
        try:
            while True:
                deliver_due(ids=ids)
                due = outgoing_mail.next_attempt_at(ids)
                db.session.commit()  # no transaction stays open while sleeping
                remaining = deadline - time.monotonic()
                wait = (due - clock.now()).total_seconds() if due is not None else 0.0
                # Done when all are sent or given up, or when none could be claimed (SMTP unset).
                if due is None or wait <= 0 or remaining <= 0:
                    return
                time.sleep(min(max(wait, MIN_WAIT), remaining))
        except mail.MailConfigError as exc:
            log.error("mail not sent (kept in the outbox): %s", exc)
        except Exception:
            db.session.rollback()
            log.exception("mail delivery stopped; `idp mail deliver` resumes it")
