"""The probe decoder of a served model (the ``probe_decoder`` capability): latents rendered by a
decoder trained afterwards on the model's frozen latents (:mod:`latentatlas.nets.probe_decoder`),
each reply labelled "probe decoder, held-out PSNR X dB: not the model's own"."""

from __future__ import annotations

import threading

import torch

from latentatlas.errors import UnsupportedError
from latentatlas.evaluation.retrieval import sweep_queries
from latentatlas.imaging import tile_grid, to_data_url, to_png
from latentatlas.nets.probe_decoder import ProbeDecoder
from latentatlas.serve.schemas import ProbeDecodeResponse, ProbeTraverseResponse
from latentatlas.serve.services.core import DECODE_CHUNK, ModelService
from latentatlas.store.probe_decoder import CARD_SECTION, load_probe_decoder, probe_label


class ProbeDecoderService:
    """One model's probe decoder, loaded on first use (one per model: ``core.part(ProbeDecoderService)``)."""

    def __init__(self, core: ModelService) -> None:
        self.core = core
        self._probe: ProbeDecoder | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, core: ModelService) -> ProbeDecoderService:
        return core.part(cls)

    def _loaded(self) -> tuple[ProbeDecoder, dict]:
        core = self.core
        core.require("probe_decoder", "render with a probe decoder (train one: latentatlas probe-decoder MODEL)")
        section = core.loaded.card.get(CARD_SECTION)
        if not isinstance(section, dict) or not isinstance(section.get("heldout_psnr_db"), (int, float)):
            raise UnsupportedError(f"model {core.id}'s probe decoder has no held-out PSNR on its card: train it again")
        with self._lock:
            if self._probe is None:
                try:
                    probe = load_probe_decoder(core.loaded.folder, core.config.net, core.config.latent_dim, core.device)
                except (OSError, ValueError, RuntimeError) as error:
                    raise UnsupportedError(
                        f"model {core.id}'s probe decoder cannot be read ({error}): train it again"
                    ) from error
                assert probe is not None  # the capability says the file is there
                self._probe = probe
            return self._probe, section

    @torch.inference_mode()
    def render(self, latents: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Latents (N, D) rendered by the probe decoder (N, C, S, S), and its card section."""
        probe, section = self._loaded()
        parts = []
        for chunk in latents.split(DECODE_CHUNK):
            with self.core.inference():
                parts.append(probe(chunk.to(self.core.device)).cpu())
        return torch.cat(parts), section

    def decode(self, latent: list[float]) -> ProbeDecodeResponse:
        images, section = self.render(self.core.latents([latent]))
        return ProbeDecodeResponse(
            image=to_data_url(to_png(images[0])), label=probe_label(section), heldout_psnr_db=section["heldout_psnr_db"]
        )

    def traverse(
        self, latent: list[float], dims: list[int] | None, steps: int, max_batch: int
    ) -> ProbeTraverseResponse:
        """/traverse's sweep (same dims, values and limits), rendered by the probe decoder."""
        base, dims, values = self.core.traversal_plan(latent, dims, steps, max_batch)
        batch = torch.from_numpy(sweep_queries(base.cpu().numpy(), dims, values)).float()
        images, section = self.render(batch)
        columns = len(values[0])
        return ProbeTraverseResponse(
            image=to_data_url(to_png(tile_grid(images, len(dims), columns))),
            dims=dims,
            values=values,
            steps=columns,
            tile=self.core.config.net.image_size,
            label=probe_label(section),
            heldout_psnr_db=section["heldout_psnr_db"],
        )
