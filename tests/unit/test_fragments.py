"""Information fragments (Murphy, Dillavou & Bassett 2025) reproduce the reference code.

Reference values: murphyka/representation-space-info-comparison @5760dde
(tests/fixtures/fragments-public.expected.json); tolerances from the fixture README:
abs 1e-8 on info, VI and on NMI between channels that both carry > 0.01 bits;
abs 1e-5 on NMI entries that involve a channel under 0.01 bits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.fragments import (
    FragmentsInputError,
    bhattacharyya_distances,
    compute_factor_similarity,
    compute_fingerprint,
    compute_fragments,
    compute_hotspots,
    compute_similarity,
    load_fragments_file,
)
from latentatlas.fragments.fingerprint import chunk_rows
from latentatlas.fragments.hotspots import default_min_samples
from latentatlas.fragments.report import _jsonable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOL = 1e-8
TOL_INACTIVE_NMI = 1e-5


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((FIXTURES / "fragments-public.expected.json").read_text())


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "fragments-public.npz") as data:
        return {name: data[name] for name in data.files}


@pytest.fixture(scope="module")
def result(arrays) -> dict:
    return compute_fragments(arrays["mu"], arrays["logvar"], arrays["y"])


def test_fixture_copy_is_intact(expected, arrays) -> None:
    sums = expected["checksums"]
    assert arrays["mu"].sum() == pytest.approx(sums["mu_sum"], abs=1e-9)
    assert arrays["logvar"].sum() == pytest.approx(sums["logvar_sum"], rel=1e-12)
    assert int(arrays["y"].sum()) == sums["y_sum"]


@pytest.mark.parametrize("key", ["bhattacharyya_dist_sample", "bhattacharyya_dist_sample_2"])
def test_bhattacharyya_samples(expected, arrays, key) -> None:
    sample = expected[key]
    k = sample["channel"]
    rows, cols = (slice(*map(int, sample[part].split(":"))) for part in ("rows", "cols"))
    distances = bhattacharyya_distances(arrays["mu"][k : k + 1], arrays["logvar"][k : k + 1])[0]
    np.testing.assert_allclose(distances[rows, cols], sample["values"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("key", ["info_bits", "info_self_joint_bits", "vi", "vi_factor", "factor_info_bits"])
def test_fixture_agreement(expected, result, key) -> None:
    np.testing.assert_allclose(np.array(result[key], dtype=float), expected[key], rtol=0, atol=TOL)


def test_fixture_nmi(expected, result) -> None:
    active = np.array(expected["info_bits"]) > 0.01
    both = np.logical_and.outer(active, active)
    ours, ref = np.array(result["nmi"], dtype=float), np.array(expected["nmi"])
    assert np.abs(ours - ref)[both].max() <= TOL
    assert np.abs(ours - ref)[~both].max() <= TOL_INACTIVE_NMI
    assert np.all(np.diag(ours) == 1.0)


def test_fixture_nmi_factor(expected, result) -> None:
    active = np.array(expected["info_bits"]) > 0.01
    ours, ref = np.array(result["nmi_factor"], dtype=float), np.array(expected["nmi_factor"])
    assert np.abs(ours - ref)[active].max() <= TOL
    assert np.abs(ours - ref)[~active].max() <= TOL_INACTIVE_NMI


def test_public_functions_agree_with_the_report(expected, arrays, result) -> None:
    mu, logvar, y = arrays["mu"], arrays["logvar"], arrays["y"]
    fingerprint = compute_fingerprint(mu, logvar)
    np.testing.assert_allclose(fingerprint.info_bits, expected["info_bits"], rtol=0, atol=TOL)
    np.testing.assert_array_equal(fingerprint.active, np.array(expected["design"]["channel_group"]) != -2)
    factor = compute_factor_similarity(mu, logvar, y)
    np.testing.assert_allclose(factor.vi, expected["vi_factor"], rtol=0, atol=TOL)
    # Small chunks (one probe row at a time) give the same numbers as one big chunk.
    chunked = compute_similarity(mu[:8], logvar[:8], chunk_elements=1)
    np.testing.assert_allclose(chunked.vi, np.array(expected["vi"])[:8, :8], rtol=0, atol=TOL)


def test_chunks_cover_every_row_once() -> None:
    covered = [i for part in chunk_rows(103, 7, chunk_elements=50) for i in range(103)[part]]
    assert covered == list(range(103))


def _channel(
    rng: np.random.Generator, source: np.ndarray, noise: float = 0.05, sd: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    mu = source + noise * rng.standard_normal(source.shape)
    logvar = np.log(sd**2) + 0.3 * rng.standard_normal(source.shape)
    return mu, logvar


def test_exact_copy_and_independent_channel() -> None:
    rng = np.random.default_rng(0)
    n = 300
    # About 2 bits each: far below the log2 N cap, where the joint estimate would saturate.
    mu_a, lv_a = _channel(rng, rng.standard_normal(n), sd=0.3)
    mu_b, lv_b = _channel(rng, rng.standard_normal(n), sd=0.3)
    sim = compute_similarity(np.stack([mu_a, mu_a, mu_b]), np.stack([lv_a, lv_a, lv_b]))
    assert sim.nmi[0, 1] == pytest.approx(1.0, abs=1e-12)
    assert sim.vi[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert abs(sim.nmi[0, 2]) < 0.05
    assert sim.vi[0, 2] > 1.0
    assert 1.0 < sim.info_bits[0] < 3.0
    np.testing.assert_allclose(sim.nmi, sim.nmi.T, atol=1e-12)
    assert np.all(sim.info_bits <= np.log2(n) + 1e-12)


def test_channel_equal_to_factor_has_nmi_near_one() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=(300, 1))
    mu = (3.0 * labels[:, 0])[None, :].astype(float)
    logvar = np.full_like(mu, np.log(0.05**2))
    factor = compute_factor_similarity(mu, logvar, labels)
    assert factor.nmi[0, 0] == pytest.approx(1.0, abs=1e-3)
    assert factor.factor_info_bits[0] == pytest.approx(2.0, abs=0.05)  # 4 balanced labels


def test_hotspots_find_planted_clusters() -> None:
    rng = np.random.default_rng(2)
    n, copies = 150, 6
    sources = rng.standard_normal((3, n))
    mus, logvars, planted = [], [], []
    for group, source in enumerate(sources):
        for _ in range(copies):
            mu, lv = _channel(rng, rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.2) * source)
            mus.append(mu), logvars.append(lv), planted.append(group)
    for _ in range(2):  # collapsed channels: posterior ~ prior
        mus.append(0.01 * rng.standard_normal(n)), logvars.append(np.zeros(n)), planted.append(-2)
    sim = compute_similarity(np.stack(mus), np.stack(logvars))
    planted = np.array(planted)
    for kwargs in ({"vi": sim.vi}, {"nmi": sim.nmi}):
        hot = compute_hotspots(sim.info_bits, min_samples=4, **kwargs)
        assert np.all(hot.labels[planted == -2] == -2)
        assert len(hot.hotspots) == 3
        for spot in hot.hotspots:
            assert len(set(planted[spot.members])) == 1 and len(spot.members) == copies
            assert spot.mean_info_bits == pytest.approx(sim.info_bits[spot.members].mean())
        assert sorted(hot.ordering.tolist()) == np.flatnonzero(planted >= 0).tolist()


def test_min_samples_rule_is_the_runs_per_configuration() -> None:
    assert [default_min_samples(r) for r in (1, 2, 6, 25, 50)] == [2, 2, 6, 25, 50]
    with pytest.raises(ValueError):
        default_min_samples(0)


def test_the_rule_keeps_fragments_every_run_finds_and_no_rarer_one_of_its_own() -> None:
    """Six runs per configuration: two fragments every run finds become hotspots; one that
    only three runs find is no hotspot of its own (OPTICS may attach it to a neighbour)."""
    rng = np.random.default_rng(5)
    n, runs = 150, 6
    mus, logvars, planted = [], [], []
    for group, copies in enumerate((runs, runs, 3)):
        source = rng.standard_normal(n)
        for _ in range(copies):
            mu, lv = _channel(rng, rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.2) * source)
            mus.append(mu), logvars.append(lv), planted.append(group)
    sim = compute_similarity(np.stack(mus), np.stack(logvars))
    planted = np.array(planted)

    def groups(hot) -> list[list[int]]:
        return sorted(sorted(set(planted[spot.members].tolist())) for spot in hot.hotspots)

    smaller = compute_hotspots(sim.info_bits, nmi=sim.nmi, min_samples=3)
    assert [2] in groups(smaller)  # a min_samples below the runs per beta makes the rare fragment a hotspot
    hot = compute_hotspots(sim.info_bits, nmi=sim.nmi, min_samples=default_min_samples(runs))
    assert [2] not in groups(hot) and all(len(spot.members) >= runs for spot in hot.hotspots)
    for group in (0, 1):  # every fragment that all runs find is inside one hotspot
        assert any(set(np.flatnonzero(planted == group)) <= set(spot.members.tolist()) for spot in hot.hotspots)


def _save(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"mu": np.zeros((2, 5))}, "missing array(s) logvar"),
        ({"mu": np.zeros((2, 5)), "logvar": np.zeros((2, 4))}, "must match"),
        ({"mu": np.zeros(5), "logvar": np.zeros(5)}, "must be 2-D"),
        ({"mu": np.full((2, 5), np.nan), "logvar": np.zeros((2, 5))}, "NaN or infinite"),
        ({"mu": np.zeros((2, 5)), "logvar": np.full((2, 5), np.inf)}, "NaN or infinite"),
        ({"mu": np.zeros((2, 5)), "logvar": np.zeros((2, 5)), "y": np.zeros((4, 1), int)}, "rows"),
        ({"mu": np.zeros((2, 5)), "logvar": np.zeros((2, 5)), "y": np.full((5, 1), 0.5)}, "integer"),
    ],
)
def test_load_rejects_bad_inputs(tmp_path, arrays, message) -> None:
    with pytest.raises(FragmentsInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_fragments_file(_save(tmp_path / "bad.npz", **arrays))


def test_load_rejects_non_npz_and_pickles(tmp_path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(FragmentsInputError, match="cannot read"):
        load_fragments_file(tmp_path / "junk.npz")
    path = _save(tmp_path / "obj.npz", mu=np.array([[1, "a"]], dtype=object), logvar=np.zeros((1, 2)))
    with pytest.raises(FragmentsInputError):
        load_fragments_file(path)


def test_cli_json_keys(expected) -> None:
    outcome = CliRunner().invoke(app, ["fragments", str(FIXTURES / "fragments-public.npz"), "--json"])
    assert outcome.exit_code == 0, outcome.output
    data = json.loads(outcome.stdout)
    for key in ("info_bits", "info_self_joint_bits", "nmi", "vi", "nmi_factor", "vi_factor", "factor_info_bits"):
        assert np.shape(data[key]) == np.shape(expected[key]), key
    assert len(data["active"]) == 40


def test_cli_summary_and_bad_file(tmp_path) -> None:
    runner = CliRunner()
    outcome = runner.invoke(app, ["fragments", str(FIXTURES / "fragments-public.npz")])
    assert outcome.exit_code == 0 and "35 active" in outcome.stdout
    bad = _save(tmp_path / "bad.npz", mu=np.zeros((2, 5)))
    outcome = runner.invoke(app, ["fragments", str(bad)])
    assert outcome.exit_code == 2
    assert "missing array(s) logvar" in outcome.stderr


def test_a_channel_with_zero_information_has_nmi_zero_never_inf() -> None:
    """A constant channel (every probe point the same posterior) carries 0 bits: its NMI with
    another channel and with a factor is 0 (not 0/0 or x/0), its VI is the other side's 2 I - I_self."""
    rng = np.random.default_rng(3)
    n = 200
    mu_a, lv_a = _channel(rng, rng.standard_normal(n), sd=0.3)
    mu = np.stack([mu_a, np.full(n, 0.7)])
    logvar = np.stack([lv_a, np.full(n, np.log(0.3**2))])
    y = rng.integers(0, 4, size=(n, 2))
    sim = compute_similarity(mu, logvar)
    assert sim.info_bits[1] == pytest.approx(0.0, abs=1e-12)
    assert sim.nmi[0, 1] == 0.0 and sim.nmi[1, 0] == 0.0
    assert np.all(np.isfinite(sim.nmi)) and np.all(np.isfinite(sim.vi))
    assert sim.vi[0, 1] == pytest.approx(2 * sim.info_bits[0] - sim.self_joint_bits[0], abs=1e-9)
    factor = compute_factor_similarity(mu, logvar, y)
    assert np.all(factor.nmi[1] == 0.0)
    assert np.all(np.isfinite(factor.nmi)) and np.all(np.isfinite(factor.vi))
    report = compute_fragments(mu, logvar, y)
    assert report["nmi"][0][1] == 0.0 and report["nmi_factor"][1] == [0.0, 0.0]


def test_report_arrays_become_json_with_non_finite_as_none() -> None:
    assert _jsonable(np.array([[1.0, 2.5], [0.0, -1.0]])) == [[1.0, 2.5], [0.0, -1.0]]
    assert _jsonable(np.array([[1.0, np.nan], [np.inf, 2.0]])) == [[1.0, None], [None, 2.0]]
    assert _jsonable(np.array([True, False])) == [True, False]
