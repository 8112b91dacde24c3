"""Outgoing mail (idp/mail.py) against real aiosmtpd servers on loopback: the message's shape,
the log fallback, credentials, STARTTLS (opportunistic and required), implicit TLS, and
failures that are logged without breaking the page or leaking the SMTP password."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import logging
import ssl
import time
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.factories import make_user
from tests.flow import csrf_token
from tests.live_server import free_port
from tests.mailbox import Mailbox
from tests.mailbox import mailbox_fixture  # noqa: F401 - the `mailbox` fixture

SMTP_PASSWORD = "s3cret p@ss/word"
SMTP_PASSWORD_URL = "s3cret%20p%40ss%2Fword"


def use_smtp(app, monkeypatch, url: str | None) -> None:
    runtime = app.extensions["idp"]
    monkeypatch.setattr(runtime, "settings", dataclasses.replace(runtime.settings, smtp_url=url))


def ask_for_reset(client, email: str):
    page = client.get("/password/forgot")
    response = client.post(
        "/password/forgot", data={"email": email, "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 200, response.text
    return response


def wait_for_log(caplog, needle: str, timeout: float = 10.0) -> logging.LogRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in caplog.records:
            if record.name == "idp.mail" and needle in record.getMessage():
                return record
        time.sleep(0.05)
    raise AssertionError(f"no idp.mail log with {needle!r}: {caplog.text}")


def test_message_has_text_and_html_bodies_and_the_configured_sender(app, client, mailbox):
    user = make_user(app)
    ask_for_reset(client, user.email)

    received = mailbox.wait_for(user.email)

    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    assert message["From"] == app.extensions["idp"].settings.mail_from
    assert message["To"] == user.email and message["Subject"] == "Reset your password"
    assert message["Message-ID"] and message["Date"]
    assert message["Auto-Submitted"] == "auto-generated"
    link = received.link("/password/reset")
    assert link in received.text and link.replace("&", "&amp;") in received.html
    assert "<a href=" in received.html and "Alice Example" in received.html


def test_without_smtp_url_the_message_goes_to_the_log_and_its_link_works(
    app, client, caplog, monkeypatch
):
    use_smtp(app, monkeypatch, None)
    user = make_user(app)
    caplog.set_level(logging.INFO, logger="idp.mail")

    ask_for_reset(client, user.email)

    record = wait_for_log(caplog, user.email)
    assert record.levelno == logging.INFO
    text = record.getMessage()
    link = next(w for w in text.split() if w.startswith("http://localhost/password/reset"))
    assert client.get(link.removeprefix("http://localhost")).status_code == 200


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_credentials_are_sent_to_a_loopback_server_and_never_logged(
    app, client, caplog, monkeypatch
):
    seen: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login.decode(), auth_data.password.decode()))
        ok = auth_data.password.decode() == SMTP_PASSWORD
        return AuthResult(success=ok, handled=False)

    caplog.set_level(logging.DEBUG)
    user = make_user(app)
    with Mailbox.running(
        authenticator=authenticator, auth_required=True, auth_require_tls=False
    ) as box:
        use_smtp(app, monkeypatch, f"smtp://mailer:{SMTP_PASSWORD_URL}@127.0.0.1:{box.port}")
        ask_for_reset(client, user.email)
        box.wait_for(user.email)
        wait_for_log(caplog, "sent to")

        use_smtp(app, monkeypatch, f"smtp://mailer:wrong@127.0.0.1:{box.port}")
        ask_for_reset(client, user.email)
        failure = wait_for_log(caplog, "not sent")

    assert seen[0] == ("mailer", SMTP_PASSWORD)
    assert failure.levelno == logging.ERROR
    assert SMTP_PASSWORD not in caplog.text and SMTP_PASSWORD_URL not in caplog.text
    assert "wrong" not in failure.getMessage()


def test_starttls_required_refuses_a_server_without_it(app, client, caplog, mailbox, monkeypatch):
    user = make_user(app)
    use_smtp(app, monkeypatch, f"smtp+starttls://u:{SMTP_PASSWORD_URL}@127.0.0.1:{mailbox.port}")

    response = ask_for_reset(client, user.email)

    assert "Check your e-mail" in response.text  # the page does not fail
    record = wait_for_log(caplog, "not sent")
    assert "STARTTLS" in record.getMessage()
    assert mailbox.quiet() == []
    assert SMTP_PASSWORD not in caplog.text


def test_an_unreachable_server_is_logged_and_the_page_still_answers(
    app, client, caplog, monkeypatch
):
    user = make_user(app)
    use_smtp(app, monkeypatch, f"smtp://127.0.0.1:{free_port()}?timeout=2")

    response = ask_for_reset(client, user.email)

    assert "Check your e-mail" in response.text
    assert wait_for_log(caplog, "not sent").levelno == logging.ERROR


def test_an_unusable_smtp_url_is_logged_not_a_500(app, client, caplog, monkeypatch):
    user = make_user(app)
    use_smtp(app, monkeypatch, "http://mail.example.com")
    ask_for_reset(client, user.email)
    assert "smtp://" in wait_for_log(caplog, "not sent").getMessage()


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 that the client trusts (SSL_CERT_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class TlsMailbox(Mailbox):
    """Also records whether each message came over TLS."""

    def __init__(self) -> None:
        super().__init__()
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        implicit = server.transport.get_extra_info("ssl_object") is not None
        self.encrypted.append(session.ssl is not None or implicit)
        return await super().handle_DATA(server, session, envelope)


def test_starttls_is_used_when_offered_and_credentials_go_over_it(
    app, client, monkeypatch, tls_files
):
    cert, key = tls_files
    logins: list[str] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data.login.decode())
        return AuthResult(success=True)

    user = make_user(app)
    with TlsMailbox.running(
        tls_context=server_context(cert, key), require_starttls=True, authenticator=authenticator
    ) as box:
        use_smtp(app, monkeypatch, f"smtp://mailer:pw@127.0.0.1:{box.port}")
        ask_for_reset(client, user.email)
        box.wait_for(user.email)

    assert box.encrypted == [True] and logins == ["mailer"]


def test_smtps_speaks_tls_from_the_first_byte(app, client, monkeypatch, tls_files):
    cert, key = tls_files
    user = make_user(app)
    with TlsMailbox.running(ssl_context=server_context(cert, key)) as box:
        use_smtp(app, monkeypatch, f"smtps://127.0.0.1:{box.port}")
        ask_for_reset(client, user.email)
        box.wait_for(user.email)
    assert box.encrypted == [True]


def test_an_untrusted_certificate_is_a_failure(app, client, caplog, monkeypatch, tls_files):
    cert, key = tls_files
    monkeypatch.delenv("SSL_CERT_FILE")  # the client no longer trusts the test certificate
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
    user = make_user(app)
    with TlsMailbox.running(ssl_context=server_context(cert, key)) as box:
        use_smtp(app, monkeypatch, f"smtps://127.0.0.1:{box.port}?timeout=3")
        ask_for_reset(client, user.email)
        assert "CERTIFICATE_VERIFY_FAILED" in wait_for_log(caplog, "not sent").getMessage()
        assert box.quiet() == []
