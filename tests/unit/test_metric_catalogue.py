"""The metric catalogue declares every score once: each declared key is what its compute function
produces (on the public fixture, or on factor rows for the interventional scores), and the names,
defaults, labels, table columns, baselines and zoo protocol all come from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.evaluation.baselines import CARD_METRICS, ON_REQUEST, Interventions, interventional_scores
from latentatlas.evaluation.card_table import COMPARISON_COLUMNS
from latentatlas.evaluation.zoo import COLUMNS
from latentatlas.metrics import DEFAULT_METRICS, METRIC_NAMES, compute_metrics, format_table
from latentatlas.metrics.baselines import FactorRows, flatten_scores, perfect_latents
from latentatlas.metrics.catalogue import CATALOGUE, GROUPS, catalogue_json, display_order, labels, metrics_from, scores
from latentatlas.store.zoo import ZooProtocol

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "metrics-public.npz"
ROWS = 600  # the fixture's first rows: exact DCI in seconds


@pytest.fixture(scope="module")
def fixture_result() -> dict:
    """Every array metric of the catalogue on the fixture's first rows (codes: its quantised latents)."""
    with np.load(FIXTURE) as data:
        z, z_codes, y = data["z"][:ROWS], data["z_quantized"][:ROWS], data["y"][:ROWS]
    on_latents = compute_metrics(z, y, metrics=[m.name for m in metrics_from("latents")], n_jobs=1)
    return on_latents | compute_metrics(z_codes, y, metrics=[m.name for m in metrics_from("codes")])


@dataclass(frozen=True)
class _Grid:
    factor_sizes: tuple[int, ...] = (3, 4, 5)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(size, size=n) for size in self.factor_sizes], axis=1)


def test_every_array_score_is_produced_by_compute_metrics_on_the_fixture(fixture_result):
    declared = {score.key for score in scores((*metrics_from("latents"), *metrics_from("codes")))}
    assert set(flatten_scores(fixture_result)) == declared
    for entry in (*metrics_from("latents"), *metrics_from("codes")):
        for flag in entry.flags:
            assert isinstance(fixture_result[entry.name][flag], bool)


def test_every_interventional_score_is_produced_by_its_compute_function():
    votes = Interventions(train=6, eval=3, batch_size=8, variance_samples=60)
    for entry in metrics_from("interventions"):
        values, _ = entry.compute(perfect_latents, FactorRows(_Grid()), 0, votes)
        assert set(flatten_scores(values)) == {score.key for score in entry.scores}, entry.name
        assert entry.images is not None and entry.images(votes) > 0
    baseline_keys = {score.key for score in scores(metrics_from("interventions")) if score.baseline}
    assert set(interventional_scores(perfect_latents, FactorRows(_Grid()), 0, votes)) == baseline_keys


def test_names_defaults_and_protocols_come_from_the_catalogue():
    assert tuple(m.name for m in CATALOGUE if m.source != "interventions") == METRIC_NAMES
    assert tuple(m.name for m in CATALOGUE if m.source != "interventions" and m.default) == DEFAULT_METRICS
    assert "dci" not in DEFAULT_METRICS and "dci_fast" in DEFAULT_METRICS
    assert tuple(m.name for m in metrics_from("latents") if m.baselines == "always") == CARD_METRICS
    assert ON_REQUEST == ("dci",)
    assert ZooProtocol().metrics == tuple(m.name for m in metrics_from("latents") if m.zoo)
    with pytest.raises(ValueError, match="unknown metric.*choose from mig"):
        ZooProtocol(metrics=("mig", "not_a_metric"))
    assert len({m.name for m in CATALOGUE}) == len(CATALOGUE)
    assert len({s.key for s in scores()}) == len(scores())
    assert {m.group for m in CATALOGUE} <= set(GROUPS)
    for entry in CATALOGUE:
        assert entry.reference.startswith("latentatlas.metrics.") and entry.paper and entry.cost
        assert entry.null == ("drawn latent rows" if entry.source == "interventions" else "shuffled rows")
        assert entry.variant_of is None or entry.variant_of in METRIC_NAMES
        assert entry.stands_in_for is None or entry.stands_in_for in METRIC_NAMES


def test_labels_and_table_columns_come_from_the_catalogue():
    label = labels()
    assert COLUMNS[0] == ("psnr_db", "PSNR dB")
    assert COLUMNS[1:] == tuple((s.key, s.label) for s in scores(display_order()) if s.in_zoo)
    compared = {header for header, _ in COMPARISON_COLUMNS} - {"model", "kind", "steps", "batch", "PSNR dB"}
    assert compared <= set(label.values()) and {"InfoM", "MIG", "DCI D"} <= compared
    table = format_table({"dci_fast": {"disentanglement": 0.5}, "mig": 0.25})
    caveat = next(m.caveat for m in CATALOGUE if m.name == "dci_fast")
    assert f"dci_fast ({caveat}).disentanglement" in table and "mig " in table


def test_cli_help_and_validation_name_the_catalogue(tmp_path):
    runner = CliRunner()
    help_text = " ".join(runner.invoke(app, ["metrics", "--help"], terminal_width=400).output.split())
    for name in METRIC_NAMES:
        assert name in help_text
    path = tmp_path / "latents.npz"
    rng = np.random.default_rng(0)
    np.savez(path, z=rng.normal(size=(60, 3)), y=rng.integers(0, 3, size=(60, 2)))
    refused = runner.invoke(app, ["metrics", str(path), "--metrics", "mig,not_a_metric"])
    assert refused.exit_code != 0 and "not_a_metric" in refused.output and ", ".join(METRIC_NAMES) in refused.output


def test_catalogue_json_lists_every_metric_in_display_order():
    data = catalogue_json()
    assert [g["name"] for g in data["groups"]] == list(GROUPS)
    assert [m["name"] for m in data["metrics"]] == [m.name for m in display_order()]
    assert sorted(m["name"] for m in data["metrics"]) == sorted(m.name for m in CATALOGUE)
    by_name = {m["name"]: m for m in data["metrics"]}
    assert by_name["dci"]["baselines"] == "on request" and by_name["dci_fast"]["stands_in_for"] == "dci"
    assert [s["key"] for s in by_name["infomec"]["scores"]] == ["infomec.infom", "infomec.infoc", "infomec.infoe"]
