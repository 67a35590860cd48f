"""The one-way import rule of docs/architecture.md, and "capabilities, not kinds": checked on
the source, so a change that breaks a layer fails here before it tangles the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "backend" / "latentatlas"

# What each package may import from latentatlas (besides itself and the top-level helpers).
ALLOWED = {
    "metrics": set(),
    "fragments": set(),
    "data": set(),
    "nets": set(),
    "families": {"nets"},
    "store": {"data", "families", "nets", "metrics"},  # metrics: the catalogue validates a zoo's metric names
    "train": {"data", "families", "nets", "store", "evaluation", "devices"},
    "evaluation": {"data", "families", "nets", "store", "metrics", "fragments", "imaging"},
    "export": {"data", "families", "nets", "store", "imaging"},
    "imports": {"data", "families", "nets", "store", "evaluation", "metrics"},
    "serve": {"data", "families", "nets", "store", "evaluation", "export", "imaging", "config", "devices"},
}
TOP_LEVEL_HELPERS = {"__init__", "errors", "stopping"}  # __version__; the domain errors; the stop flag (no imports)


def _imports(path: Path) -> set[str]:
    """The latentatlas subpackages/modules a file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("latentatlas"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("latentatlas."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_the_layers_above_them(package):
    allowed = ALLOWED[package] | {package} | TOP_LEVEL_HELPERS
    for path in sorted((PACKAGE / package).rglob("*.py")):
        bad = _imports(path) - allowed
        assert not bad, (
            f"{path.relative_to(PACKAGE)} imports {sorted(bad)}; {package} may import {sorted(ALLOWED[package])}"
        )


def _registered() -> tuple[str, str]:
    """The registered families' kinds and model class names, as regex alternations."""
    from latentatlas.families import families

    registered = families()
    kinds = "|".join(re.escape(kind) for kind in sorted(registered, key=len, reverse=True))
    classes = "|".join(sorted({family.model.__name__ for family in registered.values()}))
    return kinds, classes


def test_no_code_outside_the_families_decides_by_a_family_name():
    """`kind == "..."` / `isinstance(model, SomeFamily)` belong nowhere but the families (every
    registered family, read from the registry)."""
    kinds, classes = _registered()
    kind_test = re.compile(rf"""kind\s*(==|!=|in)\s*[("'\[]*({kinds})\b""")
    class_test = re.compile(rf"isinstance\([^)]*,\s*({classes})\)")
    for path in sorted(PACKAGE.rglob("*.py")):
        if "families" in path.parts:
            continue
        text = path.read_text()
        assert not kind_test.search(text), f"{path.relative_to(PACKAGE)} tests a family's name"
        assert not class_test.search(text), f"{path.relative_to(PACKAGE)} tests a family's class"


def test_the_frontend_decides_by_capabilities():
    kinds, _ = _registered()
    frontend = PACKAGE.parents[1] / "frontend" / "src"
    scripts = sorted(frontend.rglob("*.js"))
    assert scripts, f"no scripts under {frontend}"
    for path in scripts:
        text = path.read_text()
        assert not re.search(rf"""\.kind\s*===?\s*["']({kinds})["']""", text), path.relative_to(frontend)


def test_pictures_are_made_in_one_module():
    """Pillow's Image.fromarray (tensor -> picture) appears in latentatlas/imaging.py only."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "imaging.py":
            assert "fromarray" not in path.read_text(), path.relative_to(PACKAGE)


def test_test_modules_have_unique_names():
    """pytest imports the test folders without packages: two test files with one name break collection."""
    tests = PACKAGE.parents[1] / "tests"
    names = [path.name for path in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
