"""mkdocs hook: an API reference page (docs/reference/PKG.md) documents every public module of its
package. The page lists the modules in the order it wants (``::: latentatlas.PKG.MODULE``); any module
of ``backend/latentatlas/PKG/`` it does not list is appended, so a new module is never left out."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE_ROOT = Path(__file__).parent / "backend"
DIRECTIVE = re.compile(r"^::: (latentatlas\.[a-z_]+)$", re.MULTILINE)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if not page.file.src_uri.startswith("reference/"):
        return markdown
    package = DIRECTIVE.search(markdown)
    if package is None:
        return markdown
    folder = PACKAGE_ROOT.joinpath(*package.group(1).split("."))
    listed = set(re.findall(r"^::: (\S+)$", markdown, re.MULTILINE))
    missing = [
        f"{package.group(1)}.{path.stem}"
        for path in sorted(folder.glob("*.py"))
        if not path.stem.startswith("_") and f"{package.group(1)}.{path.stem}" not in listed
    ]
    return markdown.rstrip("\n") + "\n" + "".join(f"\n::: {name}\n" for name in missing)
