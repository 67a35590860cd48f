"""The user's labelled images: ``--dataset folder --data-path DIR --factors factors.csv``.

The factors CSV (discrete numbers, text labels, continuous columns binned by quantiles, and
every way a CSV can be wrong), the folder as a FactorDataset (sampling rows, rendering the rows
of given factors, the card's binning), training on it from the CLI and scoring it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cli_helpers import train_command
from latentatlas.cli import app
from latentatlas.data.base import FactorDataset
from latentatlas.data.factor_table import BINS, MAX_LEVELS, read_factor_table
from latentatlas.data.labelled import LabelledFolder
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetError, DatasetSpec

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 230)}


def _labelled_folder(root, count: int = 36, seed: int = 0):
    """``count`` PNGs, each a flat colour (factor 'colour': text) with a bright square whose size
    is factor 'size' (0..2), and a continuous 'brightness' (binned): rows of factors.csv."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    lines = ["file,colour,size,brightness"]
    for i in range(count):
        colour, size, brightness = (
            list(COLOURS)[i % 3],
            int(rng.integers(0, 3)),
            float(rng.uniform(0, 1)),
        )
        pixels = np.zeros((24, 24, 3), dtype=np.uint8) + np.array(COLOURS[colour], dtype=np.uint8)
        pixels[4 : 8 + 4 * size, 4 : 8 + 4 * size] = 255
        Image.fromarray(pixels).save(root / "images" / f"{i:03d}.png")
        lines.append(f"images/{i:03d}.png,{colour},{size},{brightness:.6f}")
    (root / "factors.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def labelled(tmp_path):
    return _labelled_folder(tmp_path / "photos")


def _spec(root, **extra) -> DatasetSpec:
    return DatasetSpec(
        name="folder",
        path=str(root),
        factors=str(root / "factors.csv"),
        image_size=16,
        **extra,
    )


# -- the CSV ----------------------------------------------------------------------------


def test_factor_columns_discrete_text_and_binned(labelled):
    table = read_factor_table(labelled / "factors.csv")
    assert table.names == ("colour", "size", "brightness") and len(table.files) == 36
    assert table.values[0].tolist() == ["blue", "green", "red"]  # text labels, sorted
    assert table.values[1].tolist() == [
        0.0,
        1.0,
        2.0,
    ]  # few distinct numbers: each is a class
    assert len(np.unique(table.classes[:, 2])) == BINS == table.binning["brightness"]["bins"]  # 36 values > MAX_LEVELS
    assert set(table.binning) == {"brightness"} and table.binning["brightness"]["method"] == "equal-frequency"
    # equal-frequency: 36 rows in 10 bins of 3 or 4; each class's value is its rows' median
    assert set(np.bincount(table.classes[:, 2]).tolist()) <= {3, 4}
    brightness = np.array([float(line.split(",")[3]) for line in (labelled / "factors.csv").read_text().split()[1:]])
    for k, value in enumerate(table.values[2]):
        assert value == np.median(brightness[table.classes[:, 2] == k])
    edges = table.binning["brightness"]["edges"]
    assert len(edges) == BINS - 1 and edges == sorted(edges)


def test_a_numeric_column_with_few_levels_stays_discrete(tmp_path):
    rows = [f"{i}.png,{0.5 + 0.1 * (i % MAX_LEVELS):.1f}" for i in range(3 * MAX_LEVELS)]
    (tmp_path / "f.csv").write_text("file,scale\n" + "\n".join(rows))
    table = read_factor_table(tmp_path / "f.csv")
    assert len(table.values[0]) == MAX_LEVELS and table.binning == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "header must start with a 'file' column"),
        ("name,size\na.png,1\n", "header must start with a 'file' column"),
        ("file\na.png\n", "factor names must be present"),
        (
            "file,size,size\na.png,1,2\n",
            "factor names must be present, non-empty and unique",
        ),
        ("file,size\n", "no rows after the header"),
        (
            "file,size,colour\na.png,1,red\nb.png,2\n",
            r"line 3: 2 fields; the header has 3",
        ),
        ("file,size\na.png,1\nb.png,\n", r"line 3: an empty field"),
        ("file,size\na.png,1\na.png,2\n", "files listed more than once: a.png"),
        ("file,size\na.png,1\nb.png,1\n", "factor 'size' has a single value"),
        (
            "file,size\na.png,1\nb.png,nan\n",
            "factor 'size' has a value that is not a finite number",
        ),
    ],
)
def test_bad_csvs_are_refused_naming_the_file_and_the_problem(tmp_path, text, message):
    (tmp_path / "factors.csv").write_text(text)
    with pytest.raises(DatasetError, match=message) as raised:
        read_factor_table(tmp_path / "factors.csv")
    assert "factors.csv" in str(raised.value)


def test_a_csv_that_is_not_text_is_refused(tmp_path):
    (tmp_path / "factors.csv").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    with pytest.raises(DatasetError, match="factors.csv: not a readable UTF-8 CSV"):
        read_factor_table(tmp_path / "factors.csv")


# -- the folder as a factor dataset -----------------------------------------------------


def test_a_labelled_folder_is_a_factor_dataset(labelled):
    dataset = load_dataset(_spec(labelled))
    assert isinstance(dataset, LabelledFolder) and isinstance(dataset, FactorDataset)
    assert len(dataset) == 36 and dataset.factor_names == (
        "colour",
        "size",
        "brightness",
    )
    assert dataset.factor_sizes == (3, 3, BINS)
    described = dataset.describe()
    assert described["factor_binning"]["brightness"]["bins"] == BINS and described["factors_file"].endswith(
        "factors.csv"
    )
    images = dataset.images(np.arange(3))
    assert images.shape == (3, 3, 16, 16)
    # row 1 is green (CSV order): its corner pixel is the flat colour
    torch.testing.assert_close(
        images[1, :, -1, -1],
        torch.tensor(COLOURS["green"], dtype=torch.float32) / 255,
        rtol=0,
        atol=0.02,
    )


def test_sampled_factors_are_rows_and_render_gives_matching_rows(labelled):
    dataset = LabelledFolder(_spec(labelled))
    factors = dataset.sample_factors(200, np.random.default_rng(0))
    rows = dataset.factors_to_index(factors)
    np.testing.assert_array_equal(dataset.index_to_factors(rows), factors)  # every sampled combination exists
    assert torch.equal(dataset.render(factors[:20]), dataset.images(rows[:20]))
    table = dataset.factor_value_table(factors[:4])
    assert set(table["colour"]) <= set(COLOURS) and all(isinstance(v, float) for v in table["brightness"])


def test_repeated_combinations_render_different_rows(tmp_path):
    root = tmp_path / "same"
    root.mkdir()
    for i in range(6):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(root / f"{i}.png")
    (root / "factors.csv").write_text("file,kind\n" + "".join(f"{i}.png,{i % 2}\n" for i in range(6)))
    dataset = LabelledFolder(
        DatasetSpec(
            name="folder",
            path=str(root),
            factors=str(root / "factors.csv"),
            image_size=8,
        )
    )
    # three rows have kind 0 (0, 2, 4): asking four times cycles through them
    assert dataset.factors_to_index(np.array([[0], [1], [0], [0], [0]])).tolist() == [
        0,
        1,
        2,
        4,
        0,
    ]


def test_an_intervention_without_a_row_gets_the_nearest_combination(labelled):
    dataset = LabelledFolder(_spec(labelled))
    row = dataset.index_to_factors(np.array([0]))
    absent = next(
        np.array([[c, s, b]])
        for c in range(3)
        for s in range(3)
        for b in range(BINS)
        if not (dataset.index_to_factors(np.arange(36)) == [c, s, b]).all(axis=1).any()
        and (np.array([c, s, b]) != row[0]).sum() == 1
    )
    assert dataset.intervention_counts() == {"requested": 0, "substituted": 0}
    nearest = dataset.index_to_factors(dataset.factors_to_index(absent))
    assert (nearest != absent).sum() == 1  # one factor differs: no row has the combination, a neighbour is used
    dataset.factors_to_index(np.concatenate([row, absent, row]))
    assert dataset.intervention_counts() == {"requested": 4, "substituted": 2}
    assert "nearest existing combination" in str(dataset.intervention_rule)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda root: (root / "images" / "004.png").unlink(),
            r"factors.csv: 1 listed file\(s\) missing under .*images/004.png",
        ),
        (
            lambda root: (root / "images" / "005.png").write_bytes(b"not a png"),
            r"factors.csv: images/005.png is not a readable image",
        ),
        (
            lambda root: (root / "factors.csv").write_text("file,size\n../outside.png,1\nimages/000.png,2\n"),
            "files outside the image folder",
        ),
    ],
)
def test_bad_folders_are_refused(labelled, change, message):
    change(labelled)
    with pytest.raises(DatasetError, match=message):
        load_dataset(_spec(labelled))


# -- from the command line --------------------------------------------------------------


def _train_on(labelled, out, steps: str):
    """``latentatlas train ae`` on the labelled folder with its factors.csv, tiny."""
    factors = str(labelled / "factors.csv")
    options = ["--dataset", "folder", "--data-path", str(labelled), "--factors", factors, "--steps", steps]
    return CliRunner().invoke(app, train_command("ae", out, *options))


def test_train_and_score_on_a_labelled_folder(labelled, tmp_path):
    out = tmp_path / "labelled-model"
    result = _train_on(labelled, out, steps="2")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"]["factors"] == str(labelled / "factors.csv")
    assert config["model"]["latent_dim"] == 6  # twice the CSV's three factors
    card = json.loads((out / "card.json").read_text())
    assert card["dataset"]["factor_binning"]["brightness"]["method"] == "equal-frequency"

    # The scores see the folder as the procedural sets: sampled factors, their images encoded, interventions.
    from latentatlas.evaluation.disentanglement import encode_factor_samples
    from latentatlas.metrics import compute_factor_vae, compute_metrics
    from latentatlas.store import load_model_folder

    loaded = load_model_folder(out)
    dataset = load_dataset(loaded.config.dataset)
    factors = dataset.sample_factors(90, np.random.default_rng(0))
    z, _ = encode_factor_samples(loaded, dataset, factors)
    scores = compute_metrics(z, factors, metrics=["mig"], n_jobs=1)
    assert 0 <= scores["mig"] <= 1

    def represent(images: torch.Tensor) -> np.ndarray:
        return loaded.model.encode(images).latent.detach().numpy()

    votes = compute_factor_vae(
        represent,
        dataset,
        batch_size=8,
        num_train=6,
        num_eval=6,
        num_variance_estimate=60,
        prune_threshold=0.0,
    )
    assert votes.train_votes.shape == (3, 6) and votes.train_votes.sum() == 6


def test_the_card_says_how_many_interventions_took_a_neighbouring_combination(labelled, tmp_path):
    from latentatlas.evaluation.disentanglement import VoteCounts, evaluate_model

    out = tmp_path / "labelled-model"
    assert _train_on(labelled, out, steps="2").exit_code == 0
    metrics = evaluate_model(out, samples=60, votes=VoteCounts(train=3, eval=2), n_jobs=1)
    interventions = json.loads((out / "card.json").read_text())["metrics"]["interventions"]
    assert interventions == metrics["interventions"]
    # 36 rows cannot hold every combination of 3 x 3 x BINS factors: the votes' fixed-factor batches hit gaps
    assert 0 < interventions["substituted"] <= interventions["requested"]
    assert interventions["substituted_share"] == round(interventions["substituted"] / interventions["requested"], 4)
    assert "nearest existing combination" in interventions["rule"]


def test_train_with_a_bad_factors_csv_is_a_usage_error_and_writes_nothing(labelled, tmp_path):
    (labelled / "factors.csv").write_text("file,size\nimages/000.png,1\nimages/001.png\n")
    out = tmp_path / "never"
    result = _train_on(labelled, out, steps="1")
    assert result.exit_code == 2 and "line 3: 1 fields; the header has 2" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists()
