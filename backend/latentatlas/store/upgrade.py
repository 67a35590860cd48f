"""One-time conversion of model folders written before the family plug-in API.

Until then every family shared one flat model config holding every family's options (a QLAE's
``config.json`` carried ``beta`` and ``flow_levels`` too). Each family now has its own config
that refuses options it does not have, so this rewrites each ``config.json``'s ``model`` to the
fields its family's config declares, keeping their values (the dropped ones were unused).
Weights and cards are untouched; a folder already in the new form is left as it is.

    python -m latentatlas.store.upgrade MODELS_DIR [MODELS_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from latentatlas.families import get_family, model_config
from latentatlas.store.folders import CONFIG_FILE, write_json


def upgrade_config(path: Path) -> bool:
    """Rewrite one ``config.json`` to its family's fields; True when it changed."""
    payload = json.loads(path.read_text())
    model = payload["model"]
    fields = get_family(model["kind"]).config.model_fields
    kept = {key: value for key, value in model.items() if key in fields}
    if kept == model:
        return False
    payload["model"] = model_config(kept).model_dump(mode="json")
    write_json(path, payload)
    return True


def main(roots: list[str]) -> int:
    changed = 0
    for root in roots:
        for path in sorted(Path(root).rglob(CONFIG_FILE)):
            if upgrade_config(path):
                changed += 1
                print(f"upgraded {path}")
    print(f"{changed} config.json file(s) upgraded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or ["models"]))
