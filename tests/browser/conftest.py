"""Shared by the browser tests: Debian's Chromium driven by Playwright, headless, one browser
per test session and a fresh context (no cookies) per test. A module may override
`context_options` (e.g. a phone's viewport). Without /usr/bin/chromium every test here is
skipped; CI installs it (`apt-get install chromium`), never `playwright install`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [  # keep Chromium off the network it has no business reaching
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 15_000
PHONE = {"viewport": {"width": 390, "height": 844}}
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed")
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def page(chromium: Any, context_options: dict[str, Any]) -> Iterator[Any]:
    context = chromium.new_context(**context_options)  # fresh cookies for every test
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
