"""The correlated-factor training sampler: its joint table by hand, the correlation its samples
show (strong for a small sigma, none for a large one), marginals inside the grid, the other
factors untouched, seeding, held-out indices and the A,B parser."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latentatlas.data.correlated import (
    CorrelatedPair,
    pair_probabilities,
    parse_correlated_pair,
    sample_correlated_factors,
    sample_correlated_train_indices,
)
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec

DSPRITES_SIZES = (3, 6, 40, 32, 32)  # shape, scale, orientation, posX, posY


def _expected_correlation(table: np.ndarray) -> float:
    """Pearson correlation of the two indices under a joint table, written out."""
    a, b = np.arange(table.shape[0])[:, None], np.arange(table.shape[1])[None, :]
    mean_a, mean_b = (table * a).sum(), (table * b).sum()
    cov = (table * (a - mean_a) * (b - mean_b)).sum()
    return float(cov / math.sqrt((table * (a - mean_a) ** 2).sum() * (table * (b - mean_b) ** 2).sum()))


def test_pair_table_by_hand():
    # 2 x 3 grid: scaled indices {0, 1} and {0, 0.5, 1}; weight exp(-(gap)^2 / (2 sigma^2)).
    sigma = 0.5
    weight = [[math.exp(-((a - b) ** 2) / (2 * sigma**2)) for b in (0.0, 0.5, 1.0)] for a in (0.0, 1.0)]
    total = sum(map(sum, weight))
    np.testing.assert_allclose(pair_probabilities(2, 3, sigma), np.array(weight) / total, rtol=1e-12)


def test_small_sigma_correlates_the_pair_as_its_table_says():
    pair = CorrelatedPair(first=3, second=4, sigma=0.1)
    factors = sample_correlated_factors(DSPRITES_SIZES, pair, 20_000, np.random.default_rng(0))
    expected = _expected_correlation(pair_probabilities(32, 32, 0.1))
    measured = np.corrcoef(factors[:, 3], factors[:, 4])[0, 1]
    assert expected > 0.9 and abs(measured - expected) < 0.01, (expected, measured)
    assert np.abs(factors[:, 3] - factors[:, 4]).max() <= 31


def test_large_sigma_is_nearly_independent_and_uniform():
    pair = CorrelatedPair(first=1, second=2, sigma=100.0)
    factors = sample_correlated_factors(DSPRITES_SIZES, pair, 20_000, np.random.default_rng(1))
    assert abs(np.corrcoef(factors[:, 1], factors[:, 2])[0, 1]) < 0.03
    counts = np.bincount(factors[:, 1], minlength=6) / 20_000
    np.testing.assert_allclose(counts, 1 / 6, atol=0.02)


def test_marginals_stay_in_the_grid_and_the_other_factors_stay_uniform_and_independent():
    pair = CorrelatedPair(first=1, second=3, sigma=0.05)  # scale vs posX, different grid sizes
    factors = sample_correlated_factors(DSPRITES_SIZES, pair, 30_000, np.random.default_rng(2))
    assert factors.shape == (30_000, 5) and factors.dtype.kind == "i"
    assert (factors >= 0).all() and (factors < np.array(DSPRITES_SIZES)).all()
    assert set(np.unique(factors[:, 3])) == set(range(32))  # the whole grid is still reached
    for k in (0, 2, 4):
        np.testing.assert_allclose(np.bincount(factors[:, k]) / 30_000, 1 / DSPRITES_SIZES[k], atol=0.01)
        assert abs(np.corrcoef(factors[:, k], factors[:, 3])[0, 1]) < 0.03
    assert np.corrcoef(factors[:, 1], factors[:, 3])[0, 1] > 0.9


def test_the_same_seed_draws_the_same_factors():
    pair = CorrelatedPair(first=3, second=4, sigma=0.2)
    first = sample_correlated_factors(DSPRITES_SIZES, pair, 100, np.random.default_rng(7))
    again = sample_correlated_factors(DSPRITES_SIZES, pair, 100, np.random.default_rng(7))
    assert np.array_equal(first, again)


def test_training_indices_avoid_the_held_out_images_and_keep_the_correlation():
    dataset = load_dataset(DatasetSpec(name="dsprites", image_size=16, holdout=1000))
    pair = parse_correlated_pair("posX,posY", dataset.factor_names, 0.1)
    indices = sample_correlated_train_indices(dataset, pair, 5_000, np.random.default_rng(3))
    assert not np.isin(indices, dataset.holdout_indices).any()
    factors = dataset.index_to_factors(indices)
    assert np.corrcoef(factors[:, 3], factors[:, 4])[0, 1] > 0.9


def test_parse_names_and_indices_and_refuse_bad_input():
    names = ("shape", "scale", "orientation", "posX", "posY")
    assert parse_correlated_pair("scale, posX", names, 0.2) == CorrelatedPair(1, 3, 0.2)
    assert parse_correlated_pair("3,4", names, 0.2) == CorrelatedPair(3, 4, 0.2)
    refusals = {"posX": "two factors", "posX,hue": "unknown factor 'hue'", "9,1": "unknown factor '9'"}
    refusals["posX,posX"] = "itself"
    for text, message in refusals.items():
        with pytest.raises(ValueError, match=message):
            parse_correlated_pair(text, names, 0.2)
    with pytest.raises(ValueError, match="positive"):
        parse_correlated_pair("posX,posY", names, 0.0)
    with pytest.raises(ValueError, match="out of range"):
        sample_correlated_factors((3, 6), CorrelatedPair(0, 4, 0.1), 10, np.random.default_rng(0))


def test_training_draws_its_batches_from_the_correlated_pair_and_records_it(tmp_path):
    """``latentatlas train ... --correlate posX,posY``: the loop's sampler draws the pair jointly
    (its batches' correlation is the table's), and the run's config records the option."""
    import json

    from typer.testing import CliRunner

    from cli_helpers import train_command
    from latentatlas.cli import app
    from latentatlas.data.dsprites import DSprites
    from latentatlas.data.spec import DatasetSpec
    from latentatlas.families.configs import TrainConfig
    from latentatlas.train.loop import training_sampler

    dataset = DSprites(DatasetSpec(name="dsprites", image_size=16))
    sample = training_sampler(dataset, TrainConfig(correlate="posX,posY", correlation_sigma=0.1))
    factors = dataset.index_to_factors(sample(4000, np.random.default_rng(0)))
    x, y = factors[:, 3].astype(float), factors[:, 4].astype(float)
    assert abs(np.corrcoef(x, y)[0, 1] - _expected_correlation(pair_probabilities(32, 32, 0.1))) < 0.02
    uniform = dataset.index_to_factors(training_sampler(dataset, TrainConfig())(4000, np.random.default_rng(0)))
    assert abs(np.corrcoef(uniform[:, 3], uniform[:, 4])[0, 1]) < 0.05

    out = tmp_path / "run"
    result = CliRunner().invoke(app, train_command("vae", out, "--steps", "2", "--correlate", "posX,posY"))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["train"]["correlate"] == "posX,posY"


def test_a_bad_correlated_pair_is_a_usage_error_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from cli_helpers import train_command
    from latentatlas.cli import app

    out = tmp_path / "run"
    for pair, words in (("posX,colour", "colour"), ("posX,posX", "itself")):
        result = CliRunner().invoke(app, train_command("vae", out, "--steps", "2", "--correlate", pair))
        assert result.exit_code == 2 and words in result.output, result.output
    assert not out.exists()
