"""GET /management/v1/docs: a readable rendering of the OpenAPI document that works offline.

The page is static HTML plus our own script (static/management-docs.js), which fetches
/management/v1/openapi.json; neither needs a credential nor anything from another origin."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import send_from_directory

from idp.management import PREFIX

bp = Blueprint("management_docs", __name__)


@bp.get(f"{PREFIX}/docs")
def docs_page() -> Response:
    assert current_app.static_folder is not None
    response = send_from_directory(current_app.static_folder, "management-docs.html")
    response.headers["Cache-Control"] = "no-cache"
    return response
