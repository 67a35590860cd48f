"""The pages rendered from one shell: each is complete HTML whose first focusable element is its
skip link to an element the page has, with the shell's Content-Security-Policy and picker."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from latentatlas.serve.pages import SERVED_PAGES, STATIC_PAGE, render_page

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


class Outline(HTMLParser):
    """The ids, the focusable elements in order, the CSP and the scripts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.focusable: list[dict[str, str | None]] = []
        self.csp: str | None = None
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag in {"a", "button", "select", "input"} or a.get("tabindex") == "0":
            self.focusable.append({"tag": tag, **a})
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.csp = a.get("content")
        if tag == "script" and a.get("src"):
            self.scripts.append(str(a["src"]))


def outline(name: str, vendor: str = "/vendor") -> tuple[str, Outline]:
    html = render_page(FRONTEND, name, vendor)
    parsed = Outline()
    parsed.feed(html)
    return html, parsed


@pytest.mark.parametrize("name", [*SERVED_PAGES, STATIC_PAGE])
def test_every_page_starts_with_its_skip_link_and_the_shell(name):
    html, page = outline(name)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "{{" not in html and "{%" not in html
    first = page.focusable[0]
    assert first["class"] == "skip-link"
    assert str(first["href"]).removeprefix("#") in page.ids, f"{name}: the skip link points nowhere"
    assert page.csp and "object-src 'none'" in page.csp and "base-uri 'none'" in page.csp
    assert {"status", "error", "error-text", "error-dismiss"} <= page.ids
    assert any(s.endswith(".js") and "/src/pages/" in s for s in page.scripts)
    assert (FRONTEND / "src" / "pages" / Path(page.scripts[-1]).name).is_file()


def test_only_the_pages_that_decode_in_the_browser_may_compile_webassembly():
    allowed = {name for name in [*SERVED_PAGES, STATIC_PAGE] if "'wasm-unsafe-eval'" in str(outline(name)[1].csp)}
    assert allowed == {"index", STATIC_PAGE}


def test_the_static_page_loads_plotly_from_beside_it():
    _, page = outline(STATIC_PAGE, vendor="./vendor")
    assert page.scripts[0] == "./vendor/plotly.js-strict-dist-min/plotly-strict.min.js"
