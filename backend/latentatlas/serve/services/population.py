"""Population views of a model: many seeded dataset samples encoded at once (latents, factors,
principal plane), how much each latent dim carries (a posterior's KL to the prior, or a code's
usage entropy) and which factor each dim follows (by intervention), each measured once per model:
populations are kept in the on-disk cache (:mod:`~latentatlas.serve.derived_cache`), the small
measurements in the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from latentatlas.data.base import FactorDataset
from latentatlas.errors import InputError, UnsupportedError
from latentatlas.evaluation.dim_names import COLLAPSED_POSTERIOR_SD, collapsed_dims
from latentatlas.evaluation.intervention import MIN_SCORE, MIN_SHARE, intervention_plan, intervention_scores, name_dims
from latentatlas.evaluation.layouts import TSNE_PARAMS, UMAP_PARAMS, LayoutMethod, layout_2d
from latentatlas.evaluation.population import (
    code_entropy_per_dim,
    gaussian_kl_per_dim,
    principal_plane,
)
from latentatlas.imaging import tile_grid, to_png
from latentatlas.serve.array_pack import pack_arrays, unpack_arrays
from latentatlas.serve.schemas import (
    DimFactors,
    DimInformation,
    PopulationLayout,
    PopulationProgress,
    PopulationResponse,
    PrincipalPlane,
)
from latentatlas.serve.services.core import ModelService

# A population view returns this many leading latent dims at most (an ordered flow's top ones),
# and renders and encodes its samples this many at a time.
POPULATION_DIMS = 16
POPULATION_CHUNK = 256
LAYOUT_JOB_PREFIX = "layouts/"  # layout job keys: layouts/MODEL/METHOD/nN/seedS
PLANE_BASIS = ("mean", "components", "explained_variance_ratio")  # what places any latent in the plane

# Dim factors by intervention: base cells of the factor grid, levels per factor, seed.
INTERVENTION_BASES, INTERVENTION_LEVELS, INTERVENTION_SEED = 4, 6, 0


class PopulationService:
    """One model's population views (one per model: ``core.part(PopulationService)``)."""

    def __init__(self, core: ModelService) -> None:
        self.core = core
        self._measure_lock = threading.Lock()  # one population or dim-information measurement at a time
        self._information: DimInformation | None = None  # dim_information(), measured once
        self._dim_factors: DimFactors | None = None  # dim_factors(), measured once
        self._progress = PopulationProgress(running=False)  # the population encode under way (replaced, not changed)

    @classmethod
    def of(cls, core: ModelService) -> PopulationService:
        return core.part(cls)

    def _factor_dataset(self, what: str) -> FactorDataset:
        """The model's dataset when it has generative factors (UnsupportedError, 409, otherwise)."""
        dataset = self.core.dataset
        if not isinstance(dataset, FactorDataset):
            raise UnsupportedError(f"model {self.core.id}'s dataset has no generative factors: {what}")
        return dataset

    def require_factors(self) -> None:
        """Refuse (409) now, before a job starts, a dataset without generative factors."""
        self._factor_dataset("it has no population view")

    def _encode_factors(
        self, dataset: FactorDataset, factors: np.ndarray, dims: int, on_chunk: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, float]:
        """The first ``dims`` latents of the images of ``factors`` (rendered and encoded
        POPULATION_CHUNK at a time, taking the model's lock per chunk; ``on_chunk`` told the count
        encoded before each chunk), and the render time."""
        core, parts, render_s = self.core, [], 0.0
        for start in range(0, len(factors), POPULATION_CHUNK):
            if on_chunk is not None:
                on_chunk(start)
            t0 = time.perf_counter()
            images = dataset.render(factors[start : start + POPULATION_CHUNK]).to(core.device)
            render_s += time.perf_counter() - t0
            with torch.inference_mode(), core.inference():
                parts.append(core.model.encode(images).latent[:, :dims].float().cpu().numpy())
        return np.concatenate(parts), render_s

    def population(self, n: int, seed: int) -> PopulationResponse:
        """:meth:`population_arrays` as JSON (latents rounded to 5 decimals, the plane to 6)."""
        header, arrays = self.population_arrays(n, seed)
        factors, levels = arrays["factors"], header["factor_levels"]
        return PopulationResponse(
            **{key: header[key] for key in ("n", "seed", "dims", "latent_dim", "factor_names", "seconds", "cached")},
            indices=arrays["indices"].tolist(),
            factors=factors.tolist(),
            factor_values={name: [levels[name][i] for i in factors[:, k]] for k, name in enumerate(levels)},
            latents=np.round(arrays["latents"].astype(np.float64), 5).tolist(),
            pca=PrincipalPlane(
                x=np.round(arrays["plane"][:, 0].astype(np.float64), 6).tolist(),
                y=np.round(arrays["plane"][:, 1].astype(np.float64), 6).tolist(),
                **header["pca"],
            ),
        )

    def progress(self) -> PopulationProgress:
        """The population encode under way, if any (read without waiting for it)."""
        return self._progress

    def population_packed(self, n: int, seed: int) -> bytes:
        """:meth:`population_arrays` in the binary form of :mod:`~latentatlas.serve.array_pack`."""
        return pack_arrays(*self.population_arrays(n, seed))

    def population_arrays(self, n: int, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``n`` seeded samples of the model's dataset, encoded: a header (n, seed, dims, latent_dim,
        factor_names, factor_levels: each factor's value per level, pca: the plane's mean, components
        and explained_variance_ratio, seconds, cached) and arrays ``indices`` (n,) int32, ``factors``
        (n, K) int32, ``latents`` (n, dims) float32 (the first POPULATION_DIMS dims) and ``plane`` (n, 2)
        float32 (the principal plane). Computed once per (model, n, seed) and kept in the model's on-disk
        cache (when it has one) as float32; rendered and encoded POPULATION_CHUNK at a time, taking the
        model's lock per chunk, so live requests interleave and no more than a chunk of images is held.
        409 without generative factors."""
        core = self.core
        dataset = self._factor_dataset("it has no population view")
        with self._measure_lock:
            name = f"n{n}-seed{seed}"
            stored = core.cache.read_bytes("population", core.fingerprint(), name) if core.cache is not None else None
            if stored is not None:
                try:
                    header, arrays = unpack_arrays(stored)
                    return {**header, "cached": True}, arrays
                except (ValueError, KeyError):  # written by another version of the server: computed again
                    pass
            started = time.perf_counter()
            factors = dataset.sample_factors(n, np.random.default_rng(seed))
            dims = min(core.config.latent_dim, POPULATION_DIMS)

            def report(done: int) -> None:
                self._progress = PopulationProgress(
                    running=True, n=n, seed=seed, done=done, elapsed_s=round(time.perf_counter() - started, 3)
                )

            try:
                latents, render_s = self._encode_factors(dataset, factors, dims, report)
            finally:
                self._progress = PopulationProgress(running=False)
            encoded = time.perf_counter()
            plane = principal_plane(latents)
            names = dataset.factor_names
            levels = {name: np.asarray(values).tolist() for name, values in zip(names, dataset.factor_values)}
            header = {
                "n": n,
                "seed": seed,
                "dims": dims,
                "latent_dim": core.config.latent_dim,
                "factor_names": list(dataset.factor_names),
                "factor_levels": levels,
                "pca": {key: np.round(np.asarray(plane[key]), 6).tolist() for key in PLANE_BASIS},
                "seconds": {
                    "render": render_s,
                    "encode": encoded - started - render_s,
                    "pca": time.perf_counter() - encoded,
                },
                "cached": False,
            }
            arrays = {
                "indices": dataset.factors_to_index(factors).astype(np.int32),
                "factors": factors.astype(np.int32),
                "latents": latents.astype(np.float32),
                "plane": np.stack([plane["x"], plane["y"]], axis=1).astype(np.float32),
            }
            if core.cache is not None:
                core.cache.write_bytes("population", core.fingerprint(), name, pack_arrays(header, arrays))
            return header, arrays

    def layout(
        self, method: LayoutMethod, n: int, seed: int, progress: Callable[[float, str], None]
    ) -> PopulationLayout:
        """The population of ``n`` samples (``seed``) laid out by ``method`` (UMAP or t-SNE on its
        latents, standardised; :mod:`~latentatlas.evaluation.layouts`), in the population's order:
        computed once per (model, method, n, seed) and kept in the model's on-disk cache. Runs as
        a job: ``progress`` says what it is doing (the encode first, when the population is not
        cached yet). 409 without generative factors."""
        core = self.core
        name = f"{method}-n{n}-seed{seed}"
        stored = core.cache.read_bytes("layout", core.fingerprint(), name) if core.cache is not None else None
        if stored is not None:
            try:
                header, arrays = unpack_arrays(stored)
                xy = arrays["xy"]
                return PopulationLayout(**header, x=xy[:, 0].tolist(), y=xy[:, 1].tolist(), cached=True)
            except (ValueError, KeyError, TypeError):  # written by another version of the server: computed again
                pass
        progress(0.0, f"encoding {n:,} samples (cached after the first time)")
        population, arrays = self.population_arrays(n, seed)
        progress(0.2, f"{'UMAP' if method == 'umap' else 't-SNE'} of {n:,} points (seconds to minutes on a CPU)")
        started = time.perf_counter()
        xy = layout_2d(arrays["latents"], method, seed)
        params = UMAP_PARAMS if method == "umap" else TSNE_PARAMS
        header = {
            "method": method,
            "n": n,
            "seed": seed,
            "dims": population["dims"],
            "params": dict(params),
            "seconds": round(time.perf_counter() - started, 3),
        }
        if core.cache is not None:
            core.cache.write_bytes("layout", core.fingerprint(), name, pack_arrays(header, {"xy": xy}))
        return PopulationLayout(**header, x=xy[:, 0].tolist(), y=xy[:, 1].tolist(), cached=False)

    def dataset_grid(self, indices: list[int], columns: int) -> bytes:
        """The dataset images at ``indices`` as one PNG, ``columns`` wide in reading order (a last row
        that is not full ends in black cells): a population selection seen at once."""
        images = self.core.dataset_images(indices)
        columns = min(columns, len(indices))
        rows = -(-len(indices) // columns)
        blank = images.new_zeros((rows * columns - len(indices), *images.shape[1:]))
        return to_png(tile_grid(torch.cat([images, blank]), rows, columns))

    def dim_information(self, n: int = 2000, seed: int = 0) -> DimInformation:
        """How much each latent dim carries, measured on ``n`` seeded dataset images (computed
        once): a posterior's mean KL to the prior (nats), or a code's usage entropy (bits); with
        the dims ordered by it. 409 for models with neither a posterior nor codes."""
        core = self.core
        caps = core.capabilities
        if not (caps.posterior or caps.codes):
            raise UnsupportedError(
                f"model {core.id} ({core.config.kind}) has neither a posterior nor codes: no per-dim information to order by"
            )
        dataset = core.dataset
        if dataset is None:
            raise InputError(f"model {core.id}'s dataset is not available on this server")
        with self._measure_lock:
            if self._information is None:
                n = min(n, len(dataset))
                indices = np.sort(np.random.default_rng(seed).choice(len(dataset), size=n, replace=False))
                scales, means, codes = [], [], []
                for start in range(0, n, POPULATION_CHUNK):
                    images = dataset.images(indices[start : start + POPULATION_CHUNK]).to(core.device)
                    with torch.inference_mode(), core.inference():
                        encoding = core.model.encode(images)
                    means.append(encoding.latent.float().cpu().numpy())
                    if caps.posterior:
                        assert encoding.scale is not None  # the posterior capability says encode returns scales
                        scales.append(encoding.scale.float().cpu().numpy())
                    if caps.codes:
                        assert encoding.codes is not None  # the codes capability says encode returns code indices
                        codes.append(encoding.codes.cpu().numpy())
                if caps.posterior:
                    values, measure = gaussian_kl_per_dim(np.concatenate(means), np.concatenate(scales)), "kl_nats"
                else:
                    sizes = [len(book) for book in core.codebooks or []]
                    values, measure = code_entropy_per_dim(np.concatenate(codes), sizes), "code_entropy_bits"
                self._information = DimInformation(
                    measure=measure,
                    values=values.tolist(),
                    order=np.argsort(-values, kind="stable").tolist(),
                    samples=n,
                    seed=seed,
                )
            return self._information

    def dim_factors(self) -> DimFactors:
        """Which factor each latent dim follows, by intervention (computed once): from seeded base
        cells of the factor grid each factor is set to a few levels while the others stay, and a
        dim is named after the factor that moves it most (:mod:`~latentatlas.evaluation.intervention`).
        409 without generative factors."""
        dataset = self._factor_dataset("its dims cannot be named by intervention")
        with self._measure_lock:
            if self._dim_factors is None:
                plan = intervention_plan(
                    dataset.factor_sizes, INTERVENTION_BASES, INTERVENTION_LEVELS, INTERVENTION_SEED
                )
                latents, _ = self._encode_factors(dataset, plan.factors, self.core.config.latent_dim)
                scores = intervention_scores(latents, plan, self.core.latent_std)
                names = list(dataset.factor_names)
                posterior_scale = self.core.description.posterior_scale
                inactive = collapsed_dims(posterior_scale) if posterior_scale else [False] * len(scores)
                self._dim_factors = DimFactors(
                    names=name_dims(scores, names, active=[not off for off in inactive]),
                    factor_names=names,
                    scores=np.round(scores, 6).tolist(),
                    inactive=inactive,
                    rule=f"an active dim is named after the factor whose changes move it most when that factor's score "
                    f"is at least {MIN_SCORE} and at least {MIN_SHARE:.0%} of the dim's total; inactive dims (mean "
                    f"posterior sd at least {COLLAPSED_POSTERIOR_SD}) are never named",
                    bases=INTERVENTION_BASES,
                    per_factor=INTERVENTION_LEVELS,
                    seed=INTERVENTION_SEED,
                    encodes=len(plan.factors),
                )
            return self._dim_factors
