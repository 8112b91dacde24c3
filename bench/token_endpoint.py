"""Benchmark the token endpoint and introspection against a real gunicorn.

    .venv/bin/python bench/token_endpoint.py [--requests 400] [--concurrency 4] [--workers 2]

It starts `idp serve` (gunicorn) on SQLite in a temporary folder, creates a machine client and
a web client with the CLI, signs a user in once per concurrent worker, then times:
  - client_credentials            POST /token
  - refresh_token (with rotation) POST /token, each worker following its own rotation chain
  - introspection                 POST /introspect of an access token
and prints requests per second and p50/p99 latency for each. Not a test: figures go in notes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.live_server import LiveIdP  # noqa: E402

PASSWORD = "bench-correct-horse-battery"
REDIRECT_URI = "http://localhost:9/callback"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run(name: str, total: int, concurrency: int, step: Callable[[int], None]) -> None:
    latencies: list[float] = []

    def worker(index: int) -> None:
        for _ in range(total // concurrency):
            start = time.perf_counter()
            step(index)
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    elapsed = time.perf_counter() - started
    print(
        f"{name:<22} {len(latencies):>6} req  {len(latencies) / elapsed:>8.1f} req/s  "
        f"p50 {statistics.median(latencies) * 1000:>7.1f} ms  "
        f"p99 {percentile(latencies, 0.99) * 1000:>7.1f} ms"
    )


def sign_in_and_get_tokens(idp: LiveIdP, web: dict, email: str) -> dict:
    http = requests.Session()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": web["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email offline_access",
        "state": "s",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    response = http.get(idp.url("/authorize?" + urlencode(params)), allow_redirects=True)
    token = CSRF.search(response.text).group(1)
    response = http.post(
        response.url,
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    while not response.headers["Location"].startswith(REDIRECT_URI):
        response = http.get(
            urljoin(idp.base_url, response.headers["Location"]), allow_redirects=False
        )
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    return requests.post(
        idp.url("/token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(web["client_id"], web["client_secret"]),
    ).json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with LiveIdP(workers=args.workers) as idp:
        machine = idp.cli(
            "clients",
            "create",
            "--name",
            "bench-machine",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
        )
        web = idp.cli(
            "clients",
            "create",
            "--name",
            "bench-web",
            "--redirect-uri",
            REDIRECT_URI,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--skip-consent",
        )
        idp.cli(
            "users", "create", "--email", "bench@example.com", "--password", PASSWORD, "--verified"
        )
        machine_auth = (machine["client_id"], machine["client_secret"])
        web_auth = (web["client_id"], web["client_secret"])
        sessions = [requests.Session() for _ in range(args.concurrency)]
        chains = [
            sign_in_and_get_tokens(idp, web, "bench@example.com") for _ in range(args.concurrency)
        ]
        token_url, introspect_url = idp.url("/token"), idp.url("/introspect")

        def client_credentials(i: int) -> None:
            r = sessions[i].post(
                token_url, data={"grant_type": "client_credentials"}, auth=machine_auth
            )
            assert r.status_code == 200, r.text

        def refresh(i: int) -> None:
            r = sessions[i].post(
                token_url,
                data={"grant_type": "refresh_token", "refresh_token": chains[i]["refresh_token"]},
                auth=web_auth,
            )
            assert r.status_code == 200, r.text
            chains[i] = r.json()

        def introspect(i: int) -> None:
            r = sessions[i].post(
                introspect_url, data={"token": chains[i]["access_token"]}, auth=machine_auth
            )
            assert r.status_code == 200 and r.json()["active"], r.text

        print(f"gunicorn workers={args.workers}, concurrency={args.concurrency}, SQLite")
        run("client_credentials", args.requests, args.concurrency, client_credentials)
        run("refresh_token", args.requests, args.concurrency, refresh)
        run("introspection", args.requests, args.concurrency, introspect)


if __name__ == "__main__":
    main()
