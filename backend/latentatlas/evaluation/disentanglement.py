"""Disentanglement metrics of a trained model, measured on its procedural dataset.

``evaluate_model`` draws factor vectors uniformly from the model's factor grid, renders
them, encodes them (batched, under ``torch.inference_mode``) and runs every metric of
``latentatlas.metrics`` on the result: MIG (Chen et al. 2018), DCI exact and fast
(Eastwood & Williams 2018), SAP (Kumar et al. 2018), modularity and explicitness
(Ridgeway & Mozer 2018) and InfoMEC (Hsu et al. 2023) on the sampled latents, then the
interventional FactorVAE (Kim & Mnih 2018; the reference variant and the corrected one)
and BetaVAE (Higgins et al. 2017) scores straight from the generative process. For a QLAE
the latents are the quantised values z_q, scored like every other model's latents (InfoMEC's
continuous k-NN estimator), so all families share one estimator; InfoMEC's discrete plug-in
estimator on the code indices (``Encoding.codes``, as Hsu et al. score QLAE) is the extra
``infomec_codes``. The result, with the matrices
behind the scores, goes into the model folder's ``card.json`` under ``"metrics"``.

The interventional scores need ``batch_size`` renders and encodes per vote; the reference
protocol (10,000 train and 5,000 eval votes of 64) is about a million images per score,
which takes tens of minutes to hours on a CPU here (the Shapes3D renderer manages a few
hundred images/s), so ``VoteCounts`` defaults to a twentieth of it and the card records
the counts used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from latentatlas.data.base import FactorDataset, ImageDataset
from latentatlas.data.registry import load_dataset
from latentatlas.evaluation.baselines import Interventions, card_baselines
from latentatlas.families.base import LatentModel
from latentatlas.metrics import compute_metrics
from latentatlas.metrics.catalogue import CATALOGUE, Metric, catalogue_json, metrics_from
from latentatlas.metrics.computations import Output
from latentatlas.metrics.report import default_train_rows
from latentatlas.store.folders import CARD_FILE, LoadedModel, load_model_folder, run_path, write_json

# Images rendered and encoded per forward pass. The procedural renderers build
# (n, 2H, 2W) intermediates: small batches stay in cache and render 2-3x faster on a
# CPU than the metrics' 2048-image calls.
CHUNK = 128
DEFAULT_SAMPLES = 10_000
MIN_SAMPLES = 30

T = TypeVar("T")

Progress = Callable[[float, str], None]
"""``progress(fraction, stage)``: fraction of the work done in [0, 1] and what runs now."""


class EvaluationError(ValueError):
    """The model cannot be evaluated (message says why), e.g. its dataset has no factors."""


@dataclass(frozen=True)
class VoteCounts:
    """Votes of the interventional scores, each over ``batch_size`` samples; the
    reference uses train=10,000 and eval=5,000 votes of 64."""

    train: int = 500
    eval: int = 250
    batch_size: int = 64

    def __post_init__(self) -> None:
        if min(self.train, self.eval) < 1 or self.batch_size < 2:
            raise EvaluationError(f"votes must be >= 1 and batch_size >= 2, got {self}")

    def interventions(self, variance_samples: int) -> Interventions:
        """These votes, with FactorVAE's global variances from ``variance_samples`` samples."""
        return Interventions(self.train, self.eval, self.batch_size, variance_samples)


@dataclass(frozen=True)
class _Renderer:
    """The dataset's generative process as the interventional scores use it
    (``GroundTruthDataset``), rendering on the model's device in CHUNK-image pieces."""

    dataset: FactorDataset
    device: torch.device

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return self.dataset.factor_sizes

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.dataset.sample_factors(n, rng)

    def render(self, factors: np.ndarray) -> torch.Tensor:
        return torch.cat(
            [self.dataset.render(factors[s : s + CHUNK], self.device) for s in range(0, len(factors), CHUNK)]
        )


class _Encoder:
    """Encodes image batches to numpy, counting the images for the progress report."""

    def __init__(self, model: LatentModel, on_images: Callable[[int], None], keep: int | None = None) -> None:
        self.model = model
        self.on_images = on_images
        self.keep = keep  # score only the first ``keep`` latents (an ordered model's top ones)

    @torch.inference_mode()
    def encode(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Latent values (n, D) float64 and, for a quantised model, its code indices (n, D)."""
        values, codes = [], []
        for start in range(0, images.shape[0], CHUNK):
            encoding = self.model.encode(images[start : start + CHUNK])
            values.append(encoding.latent[:, : self.keep].cpu().numpy())
            if encoding.codes is not None:
                codes.append(encoding.codes[:, : self.keep].cpu().numpy())
            self.on_images(values[-1].shape[0])
        return np.concatenate(values).astype(np.float64), np.concatenate(codes) if codes else None

    def encode_factors(self, renderer: _Renderer, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """encode() of the images of ``factors`` (n, K), rendered CHUNK at a time."""
        parts = [self.encode(renderer.render(factors[s : s + CHUNK])) for s in range(0, len(factors), CHUNK)]
        codes = np.concatenate([p[1] for p in parts]) if parts[0][1] is not None else None
        return np.concatenate([p[0] for p in parts]), codes

    def represent(self, images: torch.Tensor) -> np.ndarray:
        """The representation the interventional scores see: the latent values."""
        return self.encode(images)[0]


class _Tracker:
    """Maps the stages' own progress onto one fraction of the whole evaluation.

    Each stage has an estimated cost in seconds (``_plan``); image stages advance with
    the images encoded. The fraction reported is the weighted share done, and never
    decreases when the estimates are revised.
    """

    def __init__(self, weights: dict[str, float], callback: Progress | None) -> None:
        self.weights, self.total = weights, sum(weights.values())
        self.callback = callback
        self.done = self.reported = 0.0
        self.stage, self.text = "", ""
        self.stage_images = self.images_seen = 0
        self.seconds: dict[str, float] = {}

    def replan(self, weights: dict[str, float]) -> None:
        self.weights, self.total = weights, sum(weights.values())

    def run(self, stage: str, text: str, work: Callable[[], T], images: int = 0) -> T:
        """Run one stage (``images``: how many it will encode), timing it."""
        self.done += self.weights.get(self.stage, 0.0)
        self.stage, self.text, self.stage_images, self.images_seen = stage, text, images, 0
        self._report(0.0)
        started = time.perf_counter()
        out = work()
        self.seconds[stage] = round(time.perf_counter() - started, 2)
        return out

    def within(self, fraction: float) -> None:
        """The running stage's own progress (e.g. exact DCI's factors done), in [0, 1]."""
        self._report(min(1.0, max(0.0, fraction)))

    def count_images(self, n: int) -> None:
        self.images_seen += n
        if self.stage_images:
            self._report(min(1.0, self.images_seen / self.stage_images))

    def finish(self) -> None:
        self.done, self.stage, self.text = self.total, "", "done"
        self._report(0.0)

    def _report(self, within: float) -> None:
        fraction = (self.done + within * self.weights.get(self.stage, 0.0)) / self.total
        self.reported = max(self.reported, min(1.0, fraction))
        if self.callback is not None:
            self.callback(self.reported, self.text)


# Rough seconds of the baselines on 10,000 samples on a 2-core CPU, and per image (render and
# encode) until the first stage has measured it; with the catalogue's costs they only apportion
# the progress bar.
_BASELINE_SECONDS = 15.0
_SECONDS_PER_IMAGE = 1e-3


def _plan(samples: int, votes: VoteCounts, seconds_per_image: float = _SECONDS_PER_IMAGE) -> dict[str, float]:
    """Estimated seconds per stage: encoding, each catalogue metric, the baselines."""
    plan = {"encode": samples * seconds_per_image}
    for entry in CATALOGUE:
        if entry.images is not None:
            plan[entry.name] = entry.images(votes.interventions(samples)) * seconds_per_image
        else:
            plan[entry.name] = entry.seconds * samples / DEFAULT_SAMPLES
    plan["baselines"] = _BASELINE_SECONDS * samples / DEFAULT_SAMPLES
    return plan


def scored_latents(loaded: LoadedModel, dataset: FactorDataset) -> int | None:
    """How many leading latents the metrics score: a flow's latent is the whole image, ordered
    by importance, so its top 2K (K factors), as the EOFlow paper's InfoMEC does; None (every
    latent) for the others."""
    if not loaded.model.capabilities.ordered:
        return None
    return min(2 * len(dataset.factor_sizes), loaded.config.model.latent_dim)


def encode_factor_samples(
    loaded: LoadedModel, dataset: FactorDataset, factors: np.ndarray, every_latent: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Render and encode the images of ``factors`` (n, K): latent values (n, D) float64 (the
    scored ones, ``scored_latents``, or all of them with ``every_latent``) and, for a model with
    codes, the code indices (n, D)."""
    model = loaded.model.eval()
    encoder = _Encoder(model, lambda n: None, None if every_latent else scored_latents(loaded, dataset))
    return encoder.encode_factors(_Renderer(dataset, model.device), factors)


@dataclass(frozen=True)
class EncodedSamples:
    """Every latent (and code) of a protocol's factor samples (``samples`` drawn with ``seed``),
    encoded once by a caller that needs all of them (an ordered model's MED on every latent), so
    that :func:`evaluate_model` scores its leading ones without encoding the samples again."""

    samples: int
    seed: int
    latents: np.ndarray  # (samples, D) float64
    codes: np.ndarray | None  # (samples, D) code indices, for a model with codes
    seconds: float  # rendering and encoding them

    def require(self, samples: int, seed: int) -> None:
        """Refuse (EvaluationError) to stand for any other protocol's samples."""
        if (self.samples, self.seed) != (samples, seed):
            raise EvaluationError(
                f"the encoded samples are {self.samples} of seed {self.seed}, not {samples} of seed {seed}"
            )


def encode_protocol_samples(loaded: LoadedModel, dataset: FactorDataset, samples: int, seed: int) -> EncodedSamples:
    """:class:`EncodedSamples` of ``samples`` factor draws of ``np.random.default_rng(seed)``, the
    draws :func:`evaluate_model` scores."""
    started = time.perf_counter()
    factors = dataset.sample_factors(samples, np.random.default_rng(seed))
    latents, codes = encode_factor_samples(loaded, dataset, factors, every_latent=True)
    return EncodedSamples(samples, seed, latents, codes, time.perf_counter() - started)


def evaluate_model(
    source: Path | str | LoadedModel,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    votes: VoteCounts = VoteCounts(),
    progress: Progress | None = None,
    *,
    device: torch.device | str = "cpu",
    n_jobs: int = 2,
    write_card: bool = True,
    dci_baselines: bool = False,
    leave_out: tuple[str, ...] = (),
    should_stop: Callable[[], bool] | None = None,
    encoded: EncodedSamples | None = None,
    dataset: ImageDataset | None = None,
) -> dict:
    """Every disentanglement metric of a model folder (or a loaded model) on its dataset.

    ``samples`` factor vectors drawn from ``np.random.default_rng(seed)`` are rendered and
    encoded; the first ``ceil(2/3 samples)`` are the metrics' train split, the rest the
    test split (``latentatlas.metrics.compute_metrics``). The FactorVAE (reference and
    corrected) and BetaVAE scores run with ``votes`` and the same seed (FactorVAE's global
    latent variances from ``samples`` fresh samples, like the reference's 10,000), so the two
    FactorVAE variants see identical interventions: they differ only in the reference's
    vote-recording bug, and when every latent is active they coincide exactly, so the
    corrected one is then not recomputed. ``n_jobs`` processes fit exact DCI;
    ``device`` is used when ``source`` is a folder (a loaded model stays where it is). A model
    with ordered latents (it can ``truncate``: EOFlow) is scored on its top 2K latents. Every
    score gets its null and ceiling (``metrics.baselines``), exact DCI only with
    ``dci_baselines`` (four more fits). ``leave_out`` names catalogue metrics not computed (e.g.
    exact DCI, whose trees take hours on a CPU for a few hundred latents); the result lists them.
    ``should_stop`` ends exact DCI's fits within a boosting stage (a cancelled job's StopFlag).
    ``encoded``: the same samples already encoded (every latent), used instead of encoding them;
    ``dataset``: the model's dataset already open (default: opened from its config).

    Returns the ``"metrics"`` entry (values, matrices, factor names, sample and vote
    counts, seed, seconds per stage); with ``write_card`` it is also written into the
    folder's card.json (atomically) and a ``LoadedModel``'s ``card`` is updated.
    Raises EvaluationError when the model cannot be scored, MetricsInputError when the
    samples are too few for a metric (a factor constant on the train rows).
    """
    started = time.perf_counter()
    loaded = source if isinstance(source, LoadedModel) else load_model_folder(Path(source), device)
    dataset = dataset if dataset is not None else load_dataset(loaded.config.dataset)
    if not isinstance(dataset, FactorDataset):
        raise EvaluationError(
            f"{loaded.folder.name}: dataset {dataset.name!r} has no generative factors to score against"
        )
    if samples < MIN_SAMPLES:
        raise EvaluationError(f"samples must be at least {MIN_SAMPLES}, got {samples}")
    unknown = sorted(set(leave_out) - {entry.name for entry in CATALOGUE})
    if unknown:
        raise EvaluationError(
            f"no metric called {', '.join(unknown)} to leave out; the metrics are {', '.join(e.name for e in CATALOGUE)}"
        )
    model = loaded.model.eval()
    model_device = model.device
    renderer = _Renderer(dataset, model_device)
    tracker = _Tracker(_plan(samples, votes), progress)
    keep = scored_latents(loaded, dataset)
    encoder = _Encoder(model, tracker.count_images, keep)
    counts_before = dataset.intervention_counts()

    factors = dataset.sample_factors(samples, np.random.default_rng(seed))
    if encoded is None:
        z, codes = tracker.run(
            "encode",
            f"rendering and encoding {samples:,} samples",
            lambda: encoder.encode_factors(renderer, factors),
            samples,
        )
        encode_seconds = tracker.seconds["encode"]
    else:
        encoded.require(samples, seed)
        z = encoded.latents[:, :keep]
        codes = None if encoded.codes is None else encoded.codes[:, :keep]
        encode_seconds = tracker.seconds["encode"] = round(encoded.seconds, 2)  # encoded once, for both
    plan = _plan(samples, votes, encode_seconds / samples)
    skipped = set(leave_out) | (set() if codes is not None else {entry.name for entry in metrics_from("codes")})
    tracker.replan({stage: seconds for stage, seconds in plan.items() if stage not in skipped})

    values: dict = {}
    matrices: dict = {}
    for entry in metrics_from("latents"):
        if entry.name in skipped:
            continue
        result = tracker.run(
            entry.name,
            f"computing {entry.name}",
            partial(
                compute_metrics,
                z,
                factors,
                metrics=[entry.name],
                seed=seed,
                n_jobs=n_jobs,
                with_matrices=True,
                on_progress=tracker.within,
                should_stop=should_stop,
            ),
        )
        matrices = result.pop("matrices") | matrices  # exact DCI's importances win over dci_fast's
        values |= result
    if codes is not None:  # e.g. InfoMEC's discrete plug-in estimator on the code indices, as an extra score
        for entry in metrics_from("codes"):
            if entry.name in skipped:
                continue
            values |= tracker.run(
                entry.name,
                f"computing {entry.title}",
                partial(
                    compute_metrics,
                    codes,
                    factors,
                    metrics=[entry.name],
                    seed=seed,
                ),
            )

    count = f"{votes.train:,} + {votes.eval:,} votes"
    spec = votes.interventions(samples)
    outputs: dict[str, Output] = {}

    def intervene(entry: Metric) -> Output:
        reuses = entry.reuses
        if reuses and reuses in outputs and outputs[reuses][0][reuses]["num_active_dims"] == z.shape[1]:
            return {entry.name: outputs[reuses][0][reuses]}, outputs[reuses][1]  # every latent active: the same result
        return entry.compute(encoder.represent, renderer, seed, spec)

    for entry in metrics_from("interventions"):
        if entry.name in skipped:
            continue
        images = entry.images(spec) if entry.images else 0
        outputs[entry.name] = tracker.run(entry.name, f"{entry.title}: {count}", partial(intervene, entry), images)
    for entry_values, entry_matrices in outputs.values():
        values |= entry_values
        matrices |= entry_matrices  # the last wins: the corrected FactorVAE's votes
    voted = any(entry.name not in skipped for entry in metrics_from("interventions"))
    interventions = (dataset, spec) if voted else None
    baselines = tracker.run(
        "baselines",
        "shuffled-rows nulls and ceilings",
        lambda: card_baselines(
            z,
            codes,
            factors,
            seed,
            interventions=interventions,
            dci=dci_baselines,
            n_jobs=n_jobs,
            leave_out=leave_out,
        ),
    )

    metrics = {
        "values": values,
        "matrices": matrices,
        "factor_names": list(dataset.factor_names),
        "latent_dim": int(z.shape[1]),
        "left_out": sorted(leave_out),
        "latents_scored": f"the top {keep} of {loaded.config.model.latent_dim} ordered latents" if keep else "all",
        "samples": samples,
        "train_rows": default_train_rows(samples),
        "seed": seed,
        "infomec_latents": "values",  # the continuous estimator for every model; codes add infomec_codes
        "votes": asdict(votes),
        "baselines": baselines,
        **_interventions(dataset, counts_before),
        "seconds": tracker.seconds | {"total": round(time.perf_counter() - started, 2)},
        "device": str(model_device),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if write_card:
        card = save_metrics(loaded.folder, metrics)
        if isinstance(source, LoadedModel):
            source.card = card
    tracker.finish()
    return metrics


def _interventions(dataset: FactorDataset, before: dict[str, int]) -> dict:
    """The card's ``interventions`` entry where the dataset serves some factor combinations with
    another combination's image (labelled rows: CelebA, a folder with a factors CSV): the rule and
    how many of this evaluation's lookups it applied to. Empty for a full factor grid."""
    if dataset.intervention_rule is None:
        return {}
    after = dataset.intervention_counts()
    requested = after["requested"] - before["requested"]
    substituted = after["substituted"] - before["substituted"]
    return {
        "interventions": {
            "rule": dataset.intervention_rule,
            "requested": requested,
            "substituted": substituted,
            "substituted_share": round(substituted / requested, 4) if requested else 0.0,
        }
    }


def save_metrics_run(folder: Path, metrics: dict, state_dir: Path | None = None) -> Path:
    """Write a metrics run requested through the API beside the card, never over it:
    ``folder/runs/metrics-<UTC time>.json`` (atomic, strict JSON; under ``state_dir`` when the
    folder is read-only: :func:`~latentatlas.store.folders.run_path`); returns its path. The
    shipped ``card.json`` changes only through ``latentatlas evaluate``."""
    json.dumps(metrics, allow_nan=False)  # refuse NaN/inf before anything is written
    path = run_path(folder, "metrics", ".json", state_dir)
    write_json(path, metrics)
    return path


def save_metrics(folder: Path, metrics: dict) -> dict:
    """Set ``metrics`` as the ``"metrics"`` entry of ``folder``'s card.json (written
    atomically, strict JSON); returns the new card."""
    path = Path(folder) / CARD_FILE
    card = json.loads(path.read_text()) if path.exists() else {}
    card["metrics"] = metrics
    json.dumps(card, allow_nan=False)  # refuse NaN/inf before anything is written
    write_json(path, card)
    return card


def metric_catalogue_json() -> dict[str, Any]:
    """The metric catalogue (:mod:`latentatlas.metrics.catalogue`) as the API and the static site serve it."""
    return catalogue_json()
