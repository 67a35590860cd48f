"""The frontend's pages, rendered from one shell (``frontend/pages/shell.html``: head and
Content-Security-Policy, skip link, top bar, error banner) that each page template extends with
its links and content (Jinja2, autoescaped). The server renders them on request; the static
export renders ``static`` with its vendored packages beside it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


SERVED_PAGES = ("index", "ensembles", "compare")
"""The pages the server serves at ``/NAME.html`` (``/`` is the explorer, ``index``)."""
STATIC_PAGE = "static"
"""The static export's only page (its ``index.html``)."""
TEMPLATES = "pages"


@lru_cache(maxsize=4)
def _environment(frontend_dir: Path) -> jinja2.Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined  # here: imported at the first page

    return Environment(
        loader=FileSystemLoader(frontend_dir / TEMPLATES), autoescape=True, undefined=StrictUndefined, auto_reload=True
    )


def render_page(frontend_dir: Path, name: str, vendor: str = "/vendor") -> str:
    """Page ``name``'s HTML; ``vendor``: where the npm packages are served (the static export's are beside it)."""
    return _environment(Path(frontend_dir)).get_template(f"{name}.html").render(vendor=vendor)
