"""The `idp` command (DESIGN §5): create with --json, keys list|rotate, errors."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from idp.cli import main
from idp.extensions import db
from idp.models import Client
from idp.models import User


@pytest.fixture
def idp(app):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))

    return run


def test_users_create_json_prints_one_object_and_hashes_the_password(app, idp):
    result = idp(
        "users",
        "create",
        "--email",
        "carol@example.com",
        "--password",
        "a long enough password",
        "--name",
        "Carol",
        "--verified",
        "--role",
        "admin",
        "--json",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["email"] == "carol@example.com" and created["email_verified"] is True
    assert created["roles"] == ["admin"]
    with app.app_context():
        user = db.session.get(User, created["id"])
        assert user.password_hash.startswith("$argon2id$")
        assert "a long enough password" not in user.password_hash


def test_duplicate_user_is_a_clean_error(idp):
    assert idp("users", "create", "--email", "dup@example.com").exit_code == 0
    result = idp("users", "create", "--email", "DUP@example.com")
    assert result.exit_code != 0 and "already exists" in result.output


def test_clients_create_json_shows_the_secret_once_and_stores_a_hash(app, idp):
    result = idp(
        "clients",
        "create",
        "--name",
        "Web",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--skip-consent",
        "--json",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["client_secret"] and created["token_endpoint_auth_method"] == (
        "client_secret_basic"
    )
    with app.app_context():
        client = db.session.scalar(
            db.select(Client).where(Client.client_id == created["client_id"])
        )
        assert client.client_secret_hash != created["client_secret"]
        assert client.check_client_secret(created["client_secret"])
        assert not client.check_client_secret(created["client_secret"] + "x")


def test_public_client_has_no_secret(idp):
    result = idp(
        "clients",
        "create",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "http://localhost:3000/cb",
        "--json",
    )
    created = json.loads(result.stdout)
    assert "client_secret" not in created and created["token_endpoint_auth_method"] == "none"


@pytest.mark.parametrize(
    "uri",
    ["http://app.example.com/cb", "/relative", "https://app.example.com/cb#frag", "javascript:x"],
)
def test_clients_create_refuses_bad_redirect_uris(idp, uri):
    result = idp("clients", "create", "--name", "Bad", "--redirect-uri", uri)
    assert result.exit_code != 0 and "redirect_uris" in result.output


def test_tenants_create_and_use(idp):
    result = idp("tenants", "create", "--slug", "acme", "--name", "Acme", "--json")
    assert json.loads(result.stdout)["slug"] == "acme"
    created = idp("users", "create", "--email", "a@acme.example", "--tenant", "acme", "--json")
    assert created.exit_code == 0
    assert idp("users", "create", "--email", "a@x.example", "--tenant", "nope").exit_code != 0


def _client(idp) -> dict:
    result = idp(
        "clients", "create", "--name", "App", "--redirect-uri", "https://app.example.com/cb",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_apikeys_create_restricted_to_an_application(app, idp, client):
    made = _client(idp)
    result = idp(
        "apikeys", "create", "--name", "app", "--scope", "clients:read",
        "--application", made["client_id"], "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["application"] == made["client_id"] and created["key"]
    headers = {"X-Api-Key": created["key"]}
    url = "/management/v1/clients"
    assert client.get(f"{url}/{made['client_id']}", headers=headers).status_code == 200
    assert client.get(url, headers=headers).status_code == 403
    unrestricted = json.loads(
        idp("apikeys", "create", "--name", "u", "--scope", "*", "--json").stdout
    )
    assert unrestricted["application"] is None


@pytest.mark.parametrize("extra", [["--platform"], ["--tenant", "default"]])
def test_apikeys_create_refuses_a_bad_application(idp, extra):
    made = _client(idp)
    application = made["client_id"] if extra == ["--platform"] else "no-such-client"
    result = idp(
        "apikeys", "create", "--name", "k", "--scope", "*", "--application", application, *extra
    )
    assert result.exit_code != 0 and "application" in result.output


def test_keys_rotate_keeps_the_old_key_published(app, idp, client):
    listed = json.loads(idp("keys", "list", "--json").stdout)
    old = next(k["kid"] for k in listed if k["alg"] == "RS256" and k["status"] == "active")
    result = idp("keys", "rotate", "--alg", "RS256")
    assert result.exit_code == 0, result.output
    listed = json.loads(idp("keys", "list", "--json").stdout)
    statuses = {k["kid"]: k["status"] for k in listed}
    assert statuses[old] == "retired"
    published = {k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}
    assert old in published and len(published) == 3


def test_password_policy_applies_to_the_cli(idp):
    result = idp("users", "create", "--email", "weak@example.com", "--password", "short")
    assert result.exit_code != 0 and "password" in result.output


def test_demo_setup_is_idempotent_and_gives_a_working_client(app, client):
    from idp.cli import DEMO_EMAIL
    from idp.cli import DEMO_PASSWORD
    from idp.cli import _ensure_demo
    from tests.factories import MadeClient
    from tests.factories import MadeUser
    from tests.flow import authorize
    from tests.flow import exchange

    with app.app_context():
        first = _ensure_demo()
        second = _ensure_demo()
        client_id = second["client"].client_id
        redirect_uri = second["client"].redirect_uris[0]
        tenant_id = second["client"].tenant_id
        assert first["client"].client_id == client_id
    assert first["secret"] != second["secret"]  # a new secret on every start
    rp = MadeClient(client_id, second["secret"], redirect_uri, tenant_id)
    user = MadeUser("", DEMO_EMAIL, DEMO_PASSWORD, tenant_id)
    auth = authorize(client, rp, user)
    body = exchange(client, rp, auth.code, auth.verifier).get_json()
    assert body["access_token"] and body["refresh_token"]


def test_purge_deletes_only_expired_rows(app, idp, client, frozen_clock):
    from tests.factories import make_client
    from tests.factories import make_user
    from tests.flow import authorize
    from tests.flow import exchange

    user = make_user(app)
    rp = make_client(app, grant_types=["authorization_code", "refresh_token"], skip_consent=True)
    auth = authorize(client, rp, user)
    body = exchange(client, rp, auth.code, auth.verifier).get_json()
    fresh = json.loads(idp("purge", "--json").stdout)
    assert fresh["authorization_codes"] == 0 and fresh["refresh_tokens"] == 0
    frozen_clock.advance(days=100)
    purged = json.loads(idp("purge", "--json").stdout)
    assert purged["authorization_codes"] == 1 and purged["refresh_tokens"] == 1
    assert body["refresh_token"]


def test_demo_banner_points_at_pages_that_answer(app, client, capsys):
    from idp.cli import _ensure_demo
    from idp.cli import _print_demo

    with app.app_context():
        _print_demo(_ensure_demo())
    banner = capsys.readouterr().out
    paths = set(re.findall(r"http://localhost(/\S*)", banner))

    assert {"/", "/register", "/account", "/.well-known/openid-configuration"} <= paths
    assert client.get("/register").status_code == 200  # --demo turns registration on
    assert client.get("/.well-known/openid-configuration").status_code == 200
    assert client.get("/account").headers["Location"] == "/login?next=/account"
