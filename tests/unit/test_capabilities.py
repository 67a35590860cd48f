"""Every registered family's declared capabilities agree with what ``capable`` lets a caller use."""

from __future__ import annotations

import pytest

from latentatlas.families import Family, build_model, families, model_config
from latentatlas.families.base import CAPABILITY_MIXINS, capable
from latentatlas.families.configs import AEConfig
from latentatlas.nets import NetConfig

NET16 = NetConfig(image_size=16, channels=1, widths=(4, 4), hidden=8)
TRAINABLE = sorted(kind for kind, family in families().items() if family.capabilities.train)


@pytest.mark.parametrize("kind", TRAINABLE)
def test_capable_gives_a_model_exactly_its_declared_capabilities(kind):
    latent_dim = NET16.image_size**2 if families()[kind].capabilities.ordered else 3
    model = build_model(model_config(kind=kind, latent_dim=latent_dim, net=NET16, dataset_size=100))
    for capability, mixin in CAPABILITY_MIXINS.items():
        if getattr(model.capabilities, capability):
            assert capable(model, mixin) is model
        else:
            with pytest.raises(TypeError, match=mixin.__name__):
                capable(model, mixin)


def test_a_family_whose_class_lacks_a_declared_capability_is_refused_when_first_used():
    """The registry imports a family's class on first use and checks its mixins then, once."""
    mismatched = Family("ae", "an AE config over the QLAE class", AEConfig, "latentatlas.families.qlae:QLAE")
    with pytest.raises(TypeError, match="family ae: declares"):
        _ = mismatched.model
    family = families()["ae"]
    assert family.model is family.model and family.model.__name__ == "AE"
