"""One-time conversions of model folders written by earlier versions of the code.

* Configs from before the family plug-in API: every family shared one flat model config
  holding every family's options (a QLAE's ``config.json`` carried ``beta`` and
  ``flow_levels`` too). Each family now has its own config that refuses options it does not
  have, so each ``config.json``'s ``model`` is rewritten to the fields its family's config
  declares, keeping their values (the dropped ones were unused).
* EOFlow weights from before the held-out ordering: a dense principal ``rotation`` becomes
  its float16 Householder factors (:class:`~latentatlas.nets.flows.PrincipalRotation`), and
  the running training estimates ``quad_ema`` + 1/2 log 2 pi + ``log_norm_ema`` become the
  stored ``entropy`` (standard errors 0: unknown). The latent order is kept; re-estimate it
  with ``latentatlas finalize``.

A folder already in the new form is left as it is.

    python -m latentatlas.store.upgrade MODELS_DIR [MODELS_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from latentatlas.families import get_family, model_config
from latentatlas.families.eoflow import HALF_LOG_2PI
from latentatlas.nets.flows import PrincipalRotation
from latentatlas.store.folders import CONFIG_FILE, WEIGHTS_FILE, write_json, write_safetensors


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


def upgrade_weights(path: Path) -> bool:
    """Rewrite one ``weights.safetensors`` holding a dense principal rotation or running entropy
    estimates (see the module docstring); True when it changed."""
    state = load_file(str(path))
    changed = False
    for key in [k for k, v in state.items() if k.endswith(".rotation") and v.dim() == 2]:
        prefix = key[: -len("rotation")]
        rotation = PrincipalRotation(state[key].shape[0])
        rotation.mean.copy_(state[prefix + "mean"])
        change = rotation.set_rotation(state.pop(key))
        print(f"{path}: {key} -> float16 Householder factors (largest entry change {change:.1e})")
        state.update({prefix + name: tensor.contiguous() for name, tensor in rotation.state_dict().items()})
        changed = True
    if "quad_ema" in state:
        state["entropy"] = state.pop("quad_ema") + HALF_LOG_2PI + state.pop("log_norm_ema")
        state["entropy_se"] = torch.zeros_like(state["entropy"])
        state.pop("log_norm_seen")
        changed = True
    if changed:
        write_safetensors(path, state)
    return changed


def main(roots: list[str]) -> int:
    configs = weights = 0
    for root in roots:
        for path in sorted(Path(root).rglob(CONFIG_FILE)):
            if upgrade_config(path):
                configs += 1
                print(f"upgraded {path}")
            if (path.parent / WEIGHTS_FILE).is_file() and upgrade_weights(path.parent / WEIGHTS_FILE):
                weights += 1
                print(f"upgraded {path.parent / WEIGHTS_FILE}")
    print(f"{configs} config.json and {weights} {WEIGHTS_FILE} file(s) upgraded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or ["models"]))
