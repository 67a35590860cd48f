"""Ordered latents (``capabilities.ordered``, e.g. EOFlow): top-C decoding of an image, its
explained entropy per latent, and denoising by keeping the top latents of a noisy image."""

from __future__ import annotations

import threading

import numpy as np
import torch

from latentatlas.errors import InputError, UnsupportedError
from latentatlas.evaluation.flow import PCA, training_pca
from latentatlas.evaluation.ordered_latents import (
    explained_entropy_share,
)
from latentatlas.evaluation.quality import add_noise, psnr
from latentatlas.families.base import OrderedLatents, capable
from latentatlas.imaging import to_data_url, to_png
from latentatlas.serve.schemas import (
    Baseline,
    DenoiseResponse,
    EntropyResponse,
    TruncateResponse,
    TruncateResult,
)
from latentatlas.serve.services.core import ModelService


class OrderedLatentService:
    """Top-C decoding, explained entropy and denoising of one model with ordered latents; get it
    with :meth:`of`, which refuses (UnsupportedError, 409) a model that does not declare them."""

    def __init__(self, core: ModelService) -> None:
        self.core = core
        self._entropy: EntropyResponse | None = None  # the model is frozen: measured once
        self._pca: tuple[PCA, int] | None = None  # fitted on first use, then kept
        self._pca_lock = threading.Lock()

    @classmethod
    def of(cls, core: ModelService, what: str) -> OrderedLatentService:
        """The service over ``core``; ``what`` names the refused operation, e.g. "truncate its latent"."""
        if not core.capabilities.ordered:
            raise UnsupportedError(
                f"model {core.id} ({core.config.kind}) cannot {what}: its latents are not ordered by importance and it "
                "has no top-C decoding (see `capabilities.ordered` in /api/models)"
            )
        return core.part(cls)

    def _check_keep(self, keep: list[int]) -> None:
        dim = self.core.config.latent_dim
        if not keep:
            raise InputError("keep is empty: give at least one number of latents to keep")
        bad = [c for c in keep if not 1 <= c <= dim]
        if bad:
            raise InputError(f"keep {bad[0]} is out of range: model {self.core.id} keeps 1..{dim} latents")

    def pca(self) -> tuple[PCA, int]:
        """The card's PCA baseline (:func:`~latentatlas.evaluation.flow.training_pca`: the same
        training images, seed 0, as many as the card records), fitted once per model; with the
        number of images. 409 when the model's dataset is not on this server."""
        with self._pca_lock:
            if self._pca is None:
                core = self.core
                if core.dataset is None:
                    raise UnsupportedError(
                        f"model {core.id} has no PCA baseline here: its dataset ({core.loaded.config.dataset.name}) is not "
                        "available on this server to fit one"
                    )
                recorded = ((core.loaded.card.get("flow") or {}).get("truncation") or {}).get("pca_samples")
                samples = recorded if isinstance(recorded, int) and recorded > 0 else None
                self._pca = training_pca(core.dataset, core.config.latent_dim, np.random.default_rng(0), samples)
            return self._pca

    def _baseline(self, clean: torch.Tensor, source: torch.Tensor, keep: int) -> Baseline:
        """PCA's projection of ``source`` (one image) onto the top ``keep`` axes, its PSNR against ``clean``."""
        projected = self.pca()[0].reconstruct(source.cpu(), keep)
        return Baseline(image=to_data_url(to_png(projected[0])), psnr=float(psnr(clean.cpu(), projected)[0]))

    def truncate(
        self, images: torch.Tensor, keep: list[int], max_batch: int, baselines: bool = False
    ) -> TruncateResponse:
        """Encode the first image once, decode its top-C latents for every C in ``keep`` in one
        batch; PSNR of each against the input image (and, with ``baselines``, PCA's top-C
        reconstruction of it)."""
        core, model = self.core, self.core.model
        self._check_keep(keep)
        if len(keep) > max_batch:
            raise InputError(f"{len(keep)} values of keep = {len(keep)} decodes; the limit is {max_batch}")
        image = images[:1].to(core.device)
        with torch.inference_mode():
            with core.inference():
                latent = model.encode(image).latent
                batch = torch.cat([capable(model, OrderedLatents).truncate(latent, c) for c in keep])
            decoded = core.decode(batch)
            scores = psnr(image.cpu().expand_as(decoded), decoded)
        results = [
            TruncateResult(
                keep=c,
                psnr=float(scores[i]),
                image=to_data_url(to_png(decoded[i])),
                pca=self._baseline(image, image, c) if baselines else None,
            )
            for i, c in enumerate(keep)
        ]
        return TruncateResponse(
            input=to_data_url(to_png(image[0])),
            latent_dim=core.config.latent_dim,
            results=results,
            pca_samples=self.pca()[1] if baselines else None,
        )

    def entropy(self) -> EntropyResponse:
        """Explained entropy per ordered latent, its cumulative share above the smallest
        (:func:`~latentatlas.evaluation.ordered_latents.explained_entropy_share`) and the log grid of C."""
        if self._entropy is None:
            core = self.core
            with torch.inference_mode(), core.inference():
                ordered = capable(core.model, OrderedLatents)
                entropy = ordered.explained_entropy().detach().double().cpu().numpy()
                standard_error = ordered.explained_entropy_se().detach().double().cpu().numpy()
            if not np.isfinite(entropy).all():
                raise InputError(f"model {core.id}'s explained entropy estimates are not finite (was it trained?)")
            self._entropy = EntropyResponse(
                entropy=entropy.tolist(),
                standard_error=np.nan_to_num(standard_error, nan=0.0).tolist(),
                cumulative_share=explained_entropy_share(entropy).tolist(),
                total=float(entropy.sum()),
            )
        return self._entropy

    def denoise(
        self, images: torch.Tensor, sigma: float, keep: int | None, seed: int, baselines: bool = False
    ) -> DenoiseResponse:
        """Add N(0, sigma^2) noise to the first image (clipped to [0, 1]), encode it, keep the top
        ``keep`` latents, decode; PSNRs of the noisy and denoised images against the clean one
        (and, with ``baselines``, PCA's projection of the noisy image onto its top ``keep`` axes)."""
        core, model = self.core, self.core.model
        keep = max(1, core.config.latent_dim // 16) if keep is None else keep
        self._check_keep([keep])
        clean = images[:1].float()
        noisy = add_noise(clean, sigma, torch.Generator().manual_seed(seed))
        with torch.inference_mode(), core.inference():
            latent = model.encode(noisy.to(core.device)).latent
            denoised = model.decode(capable(model, OrderedLatents).truncate(latent, keep)).cpu()
        return DenoiseResponse(
            clean=to_data_url(to_png(clean[0])),
            noisy=to_data_url(to_png(noisy[0])),
            denoised=to_data_url(to_png(denoised[0])),
            noisy_psnr=float(psnr(clean, noisy)[0]),
            denoised_psnr=float(psnr(clean, denoised)[0]),
            sigma=sigma,
            keep=keep,
            seed=seed,
            pca=self._baseline(clean, noisy, keep) if baselines else None,
            pca_samples=self.pca()[1] if baselines else None,
        )
