"""Per-application state the OAuth and page layers read: settings and the key ring."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from idp.config import Settings
from idp.oauth.keys import KeyRing


@dataclass
class Runtime:
    settings: Settings
    keyring: KeyRing


def get() -> Runtime:
    runtime: Runtime = current_app.extensions["idp"]
    return runtime


def settings() -> Settings:
    return get().settings


def keyring() -> KeyRing:
    return get().keyring
