"""A real `idp serve` (gunicorn) on 127.0.0.1 for end-to-end and browser tests.

The server runs in a subprocess on SQLite in its own temporary instance folder, never on the
shared test database (IDP_TEST_DATABASE_URL), so these tests are independent of the unit-test
fixtures. Test modules use it through the module-scoped fixture:

    from tests.live_server import live_idp_fixture  # noqa: F401 - the `live_idp` fixture

    @pytest.mark.e2e
    def test_something(live_idp: LiveIdP) -> None:
        user = live_idp.cli("users", "create", "--email", "a@example.com", ...)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 60.0
DISCOVERY_PATH = "/.well-known/openid-configuration"


class LiveServerError(RuntimeError):
    """The server did not start, or a CLI command failed."""


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def idp_executable() -> str:
    """The `idp` console script next to the running interpreter, else the one on PATH."""
    sibling = Path(sys.executable).with_name("idp")
    if sibling.exists():
        return str(sibling)
    found = shutil.which("idp")
    if found is None:
        raise LiveServerError("the `idp` command is not installed (pip install -e '.[test]')")
    return found


def server_environment(instance_path: Path, port: int, secret_key: str) -> dict[str, str]:
    """The parent environment without any IDP_* setting, plus this server's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        IDP_ISSUER=f"http://localhost:{port}",
        IDP_INSTANCE_PATH=str(instance_path),
        IDP_SECRET_KEY=secret_key,
        IDP_DATABASE_URL=f"sqlite:///{instance_path / 'idp.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    return env


class LiveIdP:
    """One `idp serve` subprocess; `base_url` is also its issuer.

    `env` adds settings for the server and its CLI, e.g.
    `LiveIdP(env={"IDP_REFRESH_TOKEN_REUSE_GRACE": "1"})`, over those server_environment sets."""

    def __init__(self, *, workers: int = 2, env: Mapping[str, str] | None = None) -> None:
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://localhost:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="idp-live-")
        self.instance_path = Path(self._tmp.name) / "instance"
        self.instance_path.mkdir()
        self.log_path = Path(self._tmp.name) / "server.log"
        self.env = server_environment(self.instance_path, self.port, secrets.token_urlsafe(32))
        self.env.update(env or {})
        self.executable = idp_executable()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return self.base_url

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LiveIdP:
        command = [
            self.executable,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn's workers stop with it
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        url = self.base_url + DISCOVERY_PATH
        last_error = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LiveServerError(
                    f"`idp serve` exited with status {self.process.returncode} before answering"
                    f" {url}.\n--- server output ---\n{self.output()}"
                )
            try:
                response = requests.get(url, timeout=2)
            except requests.RequestException as exc:
                last_error = repr(exc)
            else:
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}: {response.text[:500]}"
            time.sleep(0.1)
        raise LiveServerError(
            f"`idp serve` did not answer {url} within {STARTUP_TIMEOUT:.0f} s ({last_error})."
            f"\n--- server output ---\n{self.output()}"
        )

    def stop(self) -> None:
        """SIGTERM to the server's process group, then SIGKILL if it lingers."""
        process = self.process
        if process is not None and process.poll() is None:
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # SIGKILL to the group also takes the workers a killed master cannot stop.
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        self._tmp.cleanup()

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(process.pid, sig)  # the group id is the pid (start_new_session)
        except ProcessLookupError:
            pass
        except PermissionError:
            process.send_signal(sig)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return "(no output captured)"

    def __enter__(self) -> LiveIdP:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- helpers -----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def cli(self, *args: str) -> dict[str, Any]:
        """Run `idp ARGS --json` against this server's database; return the JSON object.

        The CLI logs (alembic) to stderr; stdout must carry exactly one JSON object."""
        command = [self.executable, *args, "--json"]
        result = subprocess.run(
            command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise LiveServerError(
                f"{' '.join(command[1:])} exited with status {result.returncode}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            )
        try:
            payload = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise LiveServerError(
                f"{' '.join(command[1:])} did not print one JSON object on stdout ({exc})\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            ) from None
        if not isinstance(payload, dict):
            raise LiveServerError(f"expected a JSON object, got {payload!r}")
        return payload

    def create_user(
        self, email: str, password: str, name: str = "Test User", *, verified: bool = True
    ) -> dict[str, Any]:
        args = ["users", "create", "--email", email, "--password", password, "--name", name]
        return self.cli(*args, *(["--verified"] if verified else []))

    def create_client(
        self,
        name: str,
        redirect_uri: str,
        *,
        public: bool = False,
        skip_consent: bool = False,
        grant_types: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        args = ["clients", "create", "--name", name, "--redirect-uri", redirect_uri]
        if public:
            args.append("--public")
        if skip_consent:
            args.append("--skip-consent")
        for grant_type in grant_types:
            args += ["--grant-type", grant_type]
        return self.cli(*args)


@pytest.fixture(scope="module", name="live_idp")
def live_idp_fixture() -> Iterator[LiveIdP]:
    """`live_idp`: a running IdP for the whole test module, stopped at its end."""
    with LiveIdP() as server:
        yield server


# Either import registers the `live_idp` fixture in a test module; importing it under another
# name than the fixture's keeps linters from seeing the test parameters as redefinitions.
live_idp = live_idp_fixture
