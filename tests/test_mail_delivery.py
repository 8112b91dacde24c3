"""The mail outbox (idp/services/outgoing_mail.py, idp/mail_delivery.py): a message is queued
in the request's transaction, encrypted at rest, delivered after the commit to a real aiosmtpd
server and then deleted; a rolled-back request sends nothing; failures back off and give up
after five attempts; `idp mail deliver` resumes the outbox; racing deliverers send once."""

from __future__ import annotations

import json
import smtplib
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy import text

from idp import mail
from idp import mail_delivery
from idp import security
from idp.cli import main
from idp.extensions import db
from idp.mail_delivery import Report
from idp.models import OutgoingMail
from idp.services import outgoing_mail
from tests.auth.test_registration import open_registration
from tests.auth.test_registration import register
from tests.factories import make_user
from tests.flow import csrf_token
from tests.live_server import free_port
from tests.mailbox import Mailbox
from tests.mailbox import mailbox_fixture  # noqa: F401 - the `mailbox` fixture
from tests.test_mail import ask_for_reset
from tests.test_mail import use_smtp

SMTP_PASSWORD = "hunter2-smtp-secret"


def rows(app) -> list[OutgoingMail]:
    with app.app_context():
        found = list(db.session.scalars(select(OutgoingMail).order_by(OutgoingMail.created_at)))
        db.session.expunge_all()
        return found


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def idp_cli(app, *args: str):
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def queue(app, recipient: str = "bob@example.com", body: str = "a reset link") -> str:
    """A message queued and committed, as a view would leave it."""
    message = f"To: {recipient}\r\nSubject: Hello\r\n\r\n{body}\r\n".encode()
    with app.app_context():
        row = outgoing_mail.enqueue(recipient, "password_reset", message)
        db.session.commit()
        return row.id


def deliver(app, **kwargs) -> Report:
    with app.app_context():
        return mail_delivery.deliver_due(**kwargs)


@pytest.fixture
def smtp_down(app, monkeypatch) -> int:
    """IDP_SMTP_URL points at a loopback port where nothing listens (yet); returns the port."""
    port = free_port()
    use_smtp(app, monkeypatch, f"smtp://127.0.0.1:{port}?timeout=2")
    return port


def test_a_message_queued_by_a_request_is_delivered_and_its_row_deleted(app, client, mailbox):
    user = make_user(app)

    ask_for_reset(client, user.email)

    received = mailbox.wait_for(user.email)
    assert received.link("/password/reset")
    wait_until(lambda: rows(app) == [])


def test_without_smtp_url_nothing_is_queued(app, client, monkeypatch):
    use_smtp(app, monkeypatch, None)
    user = make_user(app)
    ask_for_reset(client, user.email)
    assert rows(app) == []


def test_the_stored_message_holds_neither_the_code_nor_the_link_in_clear(app, client, smtp_down):
    open_registration(app)
    assert register(client, email="new@example.com").status_code == 303
    wait_until(lambda: [r.attempts for r in rows(app)] == [1])  # the server is down: it stays

    (row,) = rows(app)
    with app.app_context():
        stored = db.session.execute(text("SELECT * FROM outgoing_mail")).one()
    plain = security.decrypt(
        row.message_encrypted or "", associated_data=f"outgoing_mail:{row.id}".encode()
    ).decode()
    code = next(word for word in plain.split() if word.isdigit() and len(word) == 6)
    token = plain.split("/verify-email?token=")[1].split()[0]
    assert row.recipient == "new@example.com" and row.template == "verify_email"
    for value in map(str, stored):
        assert code not in value and token not in value
    assert "Verify" not in row.message_encrypted  # no part of the message either


def test_a_request_that_fails_after_sending_sends_nothing(app, client, mailbox, monkeypatch):
    user = make_user(app)
    sent_then_failed: list[str] = []

    def send_then_fail(*args, **kwargs):
        queued = real(*args, **kwargs)
        sent_then_failed.append(queued.id)
        raise RuntimeError("the view breaks after queuing its mail")

    real = mail.send_password_reset
    monkeypatch.setattr(mail, "send_password_reset", send_then_fail)
    page = client.get("/password/forgot")
    response = client.post(
        "/password/forgot", data={"email": user.email, "csrf_token": csrf_token(page.text)}
    )

    assert response.status_code == 500 and sent_then_failed  # it was queued, then rolled back
    assert mailbox.quiet(1.0) == []
    assert rows(app) == []


def test_with_the_server_down_the_mail_waits_and_idp_mail_deliver_sends_it_later(
    app, client, smtp_down, frozen_clock
):
    user = make_user(app)
    ask_for_reset(client, user.email)
    wait_until(lambda: [r.attempts for r in rows(app)] == [1])

    (row,) = rows(app)
    assert row.next_attempt_at == frozen_clock.current + timedelta(seconds=30)
    assert row.failed_at is None and row.message_encrypted is not None
    assert "ConnectionRefusedError" in (row.last_error or "")

    box = Mailbox()
    box.port = smtp_down
    controller = Controller(box, hostname=box.host, port=smtp_down)
    controller.start()  # the server is back
    try:
        early = idp_cli(app, "mail", "deliver", "--json")
        assert json.loads(early.stdout) == {"sent": 0, "retrying": 0, "failed": 0}
        frozen_clock.advance(seconds=30)
        result = idp_cli(app, "mail", "deliver", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"sent": 1, "retrying": 0, "failed": 0}
        assert box.wait_for(user.email).link("/password/reset")
    finally:
        controller.stop()
    assert rows(app) == []


def test_after_five_failures_the_row_is_marked_failed_and_its_body_wiped(
    app, monkeypatch, frozen_clock
):
    use_smtp(app, monkeypatch, f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:{free_port()}")
    row_id = queue(app)
    attempts: list[str] = []

    def refusing(config, message):
        attempts.append(message["To"])
        raise smtplib.SMTPAuthenticationError(535, f"bad password {SMTP_PASSWORD}".encode())

    delays = [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10)]
    for attempt, delay in enumerate([*delays, timedelta(hours=1)], start=1):
        assert deliver(app, sender=refusing).retrying == 1
        (row,) = rows(app)
        assert row.attempts == attempt
        assert row.next_attempt_at == frozen_clock.current + delay
        assert deliver(app, sender=refusing).retrying == 0  # not due before its time
        frozen_clock.advance(seconds=delay.total_seconds())

    assert deliver(app, sender=refusing).failed == 1
    (row,) = rows(app)
    assert row.id == row_id and row.attempts == 5 and row.failed_at == frozen_clock.current
    assert row.message_encrypted is None
    assert row.recipient == "bob@example.com" and row.template == "password_reset"
    assert "SMTPAuthenticationError" in (row.last_error or "")
    assert SMTP_PASSWORD not in (row.last_error or "")
    assert len(attempts) == 5

    frozen_clock.advance(days=1)
    assert deliver(app, sender=refusing) == Report()  # never tried again
    assert json.loads(idp_cli(app, "purge", "--json").stdout)["outgoing_mail"] == 0
    frozen_clock.advance(days=30)
    assert json.loads(idp_cli(app, "purge", "--json").stdout)["outgoing_mail"] == 1
    assert rows(app) == []


def test_two_racing_deliverers_send_a_message_once(app, monkeypatch, mailbox):
    queue(app, body="once only")
    both_selected = threading.Barrier(2, timeout=10)
    real_update = outgoing_mail.update

    def update_after_both_selected(*args, **kwargs):
        both_selected.wait()  # both have read the row as due before either claims it
        return real_update(*args, **kwargs)

    monkeypatch.setattr(outgoing_mail, "update", update_after_both_selected)
    sent: list[str] = []
    lock = threading.Lock()

    def sender(config, message):
        with lock:
            sent.append(message["To"])

    reports = []

    def run() -> None:
        reports.append(deliver(app, sender=sender))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sent == ["bob@example.com"]
    assert sorted(r.sent for r in reports) == [0, 1]
    assert rows(app) == []


def test_a_message_that_does_not_decrypt_is_given_up_at_once(app, mailbox):
    row_id = queue(app)
    other = queue(app, recipient="eve@example.com")
    with app.app_context():
        db.session.execute(  # a ciphertext moved to another row does not decrypt there
            text("UPDATE outgoing_mail SET message_encrypted = :m WHERE id = :id"),
            {"m": db.session.get(OutgoingMail, other).message_encrypted, "id": row_id},
        )
        db.session.execute(text("DELETE FROM outgoing_mail WHERE id = :id"), {"id": other})
        db.session.commit()

    assert deliver(app) == Report(failed=1)
    (row,) = rows(app)
    assert row.failed_at is not None and row.message_encrypted is None
    assert mailbox.quiet() == []


def test_idp_mail_deliver_without_smtp_url_says_so(app, monkeypatch):
    use_smtp(app, monkeypatch, None)
    result = idp_cli(app, "mail", "deliver")
    assert result.exit_code != 0 and "IDP_SMTP_URL" in result.output


def test_an_unusable_smtp_url_keeps_the_mail_queued(app, client, monkeypatch):
    user = make_user(app)
    use_smtp(app, monkeypatch, "http://mail.example.com")
    ask_for_reset(client, user.email)
    time.sleep(0.3)
    assert [r.attempts for r in rows(app)] == [0]  # kept for a working configuration
    result = idp_cli(app, "mail", "deliver")
    assert result.exit_code != 0 and "smtp://" in result.output
