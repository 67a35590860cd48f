"""The untrained null of an ensemble's hotspots: cohesion and the cross-member percentile by hand,
signal-to-noise matching, and ``analysis.json``'s ``untrained_null`` on a tiny trained ensemble
(seeded untrained encoders of the members' architecture; every hotspot judged against it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.ensemble import analyze_ensemble
from latentatlas.evaluation.ensemble_null import UNTRAINED_SEED, untrained_posteriors
from latentatlas.families import build_model
from latentatlas.fragments.null_hotspots import (
    cross_member_percentile,
    hotspot_cohesion,
    match_signal_to_noise,
    signal_to_noise,
)
from latentatlas.nets import NetConfig
from latentatlas.store.ensembles import EnsembleConfig
from latentatlas.train import TrainConfig
from latentatlas.train.ensemble import run_ensemble

# Four channels: 0, 1 from member 0; 2, 3 from member 1. Pairs across members: (0,2) 0.8,
# (0,3) 0.2, (1,2) 0.6, (1,3) NaN; within member 0: (0,1) 0.9 (never counted).
NMI = np.array(
    [
        [1.0, 0.9, 0.8, 0.2],
        [0.9, 1.0, 0.6, np.nan],
        [0.8, 0.6, 1.0, 0.5],
        [0.2, np.nan, 0.5, 1.0],
    ]
)
MEMBER_OF = np.array([0, 0, 1, 1])


def test_cohesion_averages_the_cross_member_pairs_only():
    assert hotspot_cohesion(NMI, [0, 1, 2], MEMBER_OF) == pytest.approx((0.8 + 0.6) / 2)
    assert hotspot_cohesion(NMI, [0, 1, 2, 3], MEMBER_OF) == pytest.approx((0.8 + 0.2 + 0.6) / 3)
    assert np.isnan(hotspot_cohesion(NMI, [0, 1], MEMBER_OF))  # one member: no pair across members


def test_the_null_percentile_counts_each_cross_member_pair_once():
    # cross-member pairs: 0.8, 0.2, 0.6 (NaN dropped); the 50th percentile is their median.
    assert cross_member_percentile(NMI, MEMBER_OF, 50) == pytest.approx(0.6)
    assert cross_member_percentile(NMI, MEMBER_OF, 100) == pytest.approx(0.8)
    assert np.isnan(cross_member_percentile(NMI, np.zeros(4, dtype=int)))


def test_signal_to_noise_matching_by_hand():
    mu = np.array([[1.0, 3.0, 1.0, 3.0], [5.0, 5.0, 5.0, 5.0]])  # sds 1 and 0
    logvar = np.log(np.array([[4.0] * 4, [1.0] * 4]))  # posterior sds 2 and 1
    np.testing.assert_allclose(signal_to_noise(mu, logvar), [0.5, 0.0])
    matched = match_signal_to_noise(mu, logvar, target=3.0)
    np.testing.assert_allclose(matched[0], [-6.0, 6.0, -6.0, 6.0])  # centred, sd 6 = 3 x 2
    np.testing.assert_allclose(matched[1], 0.0)  # no signal to scale
    np.testing.assert_allclose(signal_to_noise(matched[:1], logvar[:1]), [3.0])


LATENT = 3


def _config() -> EnsembleConfig:
    """Three seeds of one beta, trained one step (the analysis test plants its posteriors)."""
    return EnsembleConfig(
        kind="vae",
        dataset=DatasetSpec(name="dsprites", image_size=16, holdout=50),
        net=NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=16),
        latent_dim=LATENT,
        betas=(1.0,),
        seeds=3,
        train=TrainConfig(steps=1, batch_size=4, threads=1, device="cpu"),
        probe_size=60,
    )


def test_untrained_encoders_are_seeded_by_position_and_as_initialised():
    config = _config()
    members = [{"name": "beta1-seed0", "beta": 1.0}, {"name": "beta1-seed1", "beta": 1.0}]
    indices = np.arange(10)
    mu, logvar = untrained_posteriors(config, members, indices)
    assert mu.shape == logvar.shape == (2 * LATENT, 10)
    torch.manual_seed(UNTRAINED_SEED + 1)
    second = build_model(config.member_model(1.0)).eval()
    with torch.inference_mode():
        expected, _ = second.posterior(load_dataset(config.dataset).images(indices))
    np.testing.assert_allclose(mu[LATENT:], expected.double().numpy().T, rtol=1e-6)
    again, _ = untrained_posteriors(config, members, indices)
    np.testing.assert_array_equal(mu, again)


def _plant_hotspots(out) -> None:
    """Replace each member's probe posteriors: dims 0 and 1 follow the probe's x and y positions
    (the same in every member, plus member noise: two planted hotspots), dim 2 is noise."""
    probe = load_file(str(out / "probe.safetensors"))
    factors = probe["factors"].double().numpy()
    for seed in range(3):
        rng = np.random.default_rng(seed)
        n = len(factors)
        mu = np.stack([factors[:, 4], factors[:, 3], rng.standard_normal(n)], axis=1) + 0.05 * rng.standard_normal(
            (n, 3)
        )
        logvar = np.full((n, 3), np.log(0.01))
        save_file(
            {
                "mu": torch.from_numpy(mu).float(),
                "logvar": torch.from_numpy(logvar).float(),
                "indices": probe["indices"],
            },
            str(out / f"beta1-seed{seed}" / "probe.safetensors"),
        )


def test_analysis_carries_the_untrained_null_and_judges_every_hotspot(tmp_path):
    out = tmp_path / "ens"
    run_ensemble(_config(), out, jobs=1, progress=False)
    _plant_hotspots(out)
    analysis = analyze_ensemble(out, progress=False, fusion_steps=0, min_samples=2)
    assert analysis == json.loads((out / "analysis.json").read_text())
    null = analysis["untrained_null"]
    assert "95th percentile" in null["rule"] and null["percentile"] == 95
    assert set(null["nulls"]) == {"as_initialised", "signal_matched"}  # the trained channels are active
    for entry in null["nulls"].values():
        assert entry["active_channels"] <= 3 * LATENT and isinstance(entry["hotspots"], list)
    nmi = np.array(analysis["nmi"], dtype=float)
    member_of = np.arange(nmi.shape[0]) // LATENT
    clusters = analysis["hotspots"]["clusters"]
    planted = [c for c in clusters if len({analysis["channels"][i]["dim"] for i in c["channels"]}) == 1]
    assert len(planted) >= 2 and all(c["beats_untrained_null"] for c in planted if c["channels"][0] % LATENT < 2)
    for cluster in clusters:
        cohesion = hotspot_cohesion(nmi, cluster["channels"], member_of)
        assert cluster["cohesion"] == pytest.approx(cohesion)
        bars = {name: entry["cross_member_nmi_p95"] for name, entry in null["nulls"].items()}
        assert cluster["beats"] == {name: cohesion > bar for name, bar in bars.items()}
        assert cluster["beats_untrained_null"] == all(cluster["beats"].values())
    skipped = analyze_ensemble(out, progress=False, fusion_steps=0, untrained=False)
    assert "untrained_null" not in skipped
