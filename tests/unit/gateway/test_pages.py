"""The page and its files: a CSP without 'unsafe-inline', nothing inline, nothing foreign."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources

import pytest
from fastapi.testclient import TestClient


class _Inline(HTMLParser):
    """Collects what a strict CSP would block or what loads from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.noscript = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "style" or "style" in names:
            self.problems.append(f"inline style in <{tag}>")
        if tag == "script" and not names.get("src"):
            self.problems.append("inline <script>")
        if any(n.startswith("on") for n in names):
            self.problems.append(f"inline handler in <{tag}>")
        for attr in ("src", "href"):
            value = names.get(attr) or ""
            if re.match(r"^(https?:)?//", value):
                self.problems.append(f"{attr} from another origin: {value}")
        if tag == "noscript":
            self.noscript = True


@pytest.mark.parametrize("path", ["/", "/privacy"])
def test_pages_have_a_strict_csp_and_nothing_inline(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    parser = _Inline()
    parser.feed(response.text)
    assert parser.problems == []
    if path == "/":
        assert parser.noscript and "13 or older" in response.text
        assert "{{" not in response.text and "24 hours" in response.text


def test_scripts_and_style_are_served_with_their_types(client: TestClient) -> None:
    page = client.get("/").text
    wanted = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert "/static/app.js" in wanted and "/static/app.css" in wanted
    modules = resources.files("gateway").joinpath("static")
    scripts = sorted(p.name for p in modules.iterdir() if p.name.endswith(".js"))
    for name in scripts:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["x-content-type-options"] == "nosniff"
        # Modules import only each other, from this origin.
        for target in re.findall(r'from "([^"]+)"', response.text):
            assert target.startswith("./") and target[2:] in scripts, (name, target)
    css = client.get("/static/app.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "url(" not in css.text and "@import" not in css.text  # nothing fetched from elsewhere


def test_assets_revalidate_by_etag(client: TestClient) -> None:
    first = client.get("/static/app.js")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "name", ["index.html", "privacy.html", "nope.js", "..%2Fapp.py", ".hidden.js"]
)
def test_only_scripts_styles_and_the_icon_are_served(client: TestClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
