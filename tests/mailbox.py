"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for mail tests.

    from tests.mailbox import mailbox_fixture  # noqa: F401 - the `mailbox` fixture

    def test_something(app, client, mailbox):
        ...  # the app now sends to mailbox.url
        received = mailbox.wait_for("alice@example.com")
        code, link = received.code, received.link("/verify-email")

`mailbox` starts a server for the test and points the test app's IDP_SMTP_URL at it;
`Mailbox.running()` starts one for anything else (a LiveIdP: `env={"IDP_SMTP_URL": box.url}`).
aiosmtpd needs an explicit free port: port=0 is not reported back.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from tests.live_server import free_port

WAIT_SECONDS = 10.0
LINK_RE = re.compile(r"https?://[^\s<>\"']+")
CODE_RE = re.compile(r"\b(\d{6})\b")


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def body(self, subtype: str = "plain") -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        return str(part.get_content())  # type: ignore[attr-defined]

    @property
    def text(self) -> str:
        return self.body("plain")

    @property
    def html(self) -> str:
        return self.body("html")

    @property
    def links(self) -> list[str]:
        return LINK_RE.findall(self.text)

    def link(self, path: str) -> str:
        """The first link in the text body whose path is `path`."""
        for url in self.links:
            if urlsplit(url).path == path:
                return url
        raise AssertionError(f"no link to {path} in:\n{self.text}")

    @property
    def code(self) -> str:
        match = CODE_RE.search(self.text)
        assert match, f"no 6-digit code in:\n{self.text}"
        return match.group(1)


class Mailbox:
    """The aiosmtpd handler: collects messages, lets tests wait for one."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.received: list[Received] = []
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._changed:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        with self._changed:
            return [m for m in self.received if address.lower() in map(str.lower, m.recipients)]

    def wait_for(self, address: str, *, count: int = 1, timeout: float = WAIT_SECONDS) -> Received:
        """The `count`-th message to `address` (the latest once there are that many)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.to(address)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(m.recipients, m.subject) for m in self.received]
                    raise AssertionError(f"no message #{count} to {address} (got {got})")
                self._changed.wait(left)
            return self.to(address)[count - 1]

    def quiet(self, seconds: float = 0.3) -> list[Received]:
        """Everything received, after waiting for stragglers (mail goes out on a thread)."""
        time.sleep(seconds)
        with self._changed:
            return list(self.received)

    @classmethod
    @contextmanager
    def running(cls, **controller_options: Any) -> Iterator[Mailbox]:
        box = cls()
        box.port = free_port()
        controller = Controller(box, hostname=box.host, port=box.port, **controller_options)
        controller.start()
        try:
            yield box
        finally:
            controller.stop()


@pytest.fixture(name="mailbox")
def mailbox_fixture(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A fresh SMTP server, and the test app sending its mail there for this test."""
    with Mailbox.running() as box:
        runtime = app.extensions["idp"]
        monkeypatch.setattr(
            runtime, "settings", dataclasses.replace(runtime.settings, smtp_url=box.url)
        )
        yield box


mailbox = mailbox_fixture
