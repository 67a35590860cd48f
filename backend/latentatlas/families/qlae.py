"""QLAE: the quantised-latent autoencoder of Hsu et al., "Disentanglement via Latent
Quantization", NeurIPS 2023.

Each latent dimension d owns a learnable scalar codebook v_d (n values). The encoder's
continuous output z_c[d] snaps to its nearest value z_q[d]; the decoder receives
z_c + sg(z_q - z_c) (straight-through), and

    loss = BCE(x_hat, x) + 0.01 * mean((sg(z_c) - z_q)^2) + 0.01 * mean((z_c - sg(z_q))^2)

(quantisation loss moves the codebooks, commitment loss the encoder), trained with AdamW
and strong weight decay on the weights only (see ``latentatlas.train``).

Why a naive QLAE can sit on the blank-image plateau, and what this module does about it.
At initialisation the encoder's outputs are tiny compared with the codebook spacing
(linspace(-0.5, 0.5, 10): 0.11 apart), so every image snaps to the same code: the decoder
sees a constant input and learns the mean image (on dSprites: blank), while the
straight-through gradient must push z_c across a whole code cell before the decoder sees
any change, against weight decay pulling the encoder back to zero. Two changes remove
that failure mode without changing the objective:

1. Data-dependent codebooks during the warm-up: on every warm-up batch each dimension's
   codebook is set to evenly spaced quantiles of that dimension's encoder outputs (as
   k-means initialisation does for VQ-VAE codebooks), so from step 0 different images get
   different codes and every code value is in use. Afterwards the codebooks are learned
   by the quantisation loss alone, as in the paper.
2. Quantisation warm-up: over the first ``quantize_warmup`` steps the decoder input
   moves linearly from the continuous z_c to the straight-through z_q
   (z_c + a * sg(z_q - z_c), a: 0 -> 1), so encoder and decoder first learn an
   informative code as the plain AE does, and the code snaps without a shock.
   After the warm-up the model is exactly the paper's QLAE.

What we measured: the shipped dSprites QLAE's reconstruction loss fell below the
blank-image level (BCE ~0.13) by step 100. Re-fitting the codebooks only once, at step 0,
was not enough: the encoder's outputs grew during the warm-up (sd ~4 by its end) far
beyond the codebooks, and the quantisation loss spiked 100-fold when the snap completed;
re-fitting them on every warm-up batch removed the spike. With these networks, a naive
QLAE (no warm-up, fixed linspace codebooks) also left the plateau at seed 0 on the CPU,
so the plateau is seed- and architecture-dependent; the safeguards remove the mechanism.
"""

from __future__ import annotations

import torch

from latentatlas.families.base import (
    Encoding,
    LatentModel,
    QuantizedLatents,
    reconstruction_loss,
)
from latentatlas.families.configs import QLAEConfig
from latentatlas.nets.blocks import ConvDecoder, ConvEncoder
from latentatlas.nets.quantizer import LatentQuantizer


class QLAE(LatentModel, QuantizedLatents):
    """Quantised-latent autoencoder; ``encode`` returns the quantised latent z_q. Its prior is
    uniform over each dimension's codebook (the paper's factorised prior over codes)."""

    config: QLAEConfig

    def __init__(self, config: QLAEConfig) -> None:
        super().__init__(config)
        self.encoder = ConvEncoder(config.net, config.latent_dim)
        self.decoder = ConvDecoder(config.net, config.latent_dim)
        self.quantizer = LatentQuantizer(config.latent_dim, config.codebook_size)

    def prequantised(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def encode(self, images: torch.Tensor) -> Encoding:
        return self.quantize(self.prequantised(images))

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents)

    def loss(self, images: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        continuous = self.encoder(images)
        if step < max(1, self.config.quantize_warmup):
            self.quantizer.init_from_quantiles(continuous.detach())
        quantized = self.quantizer.lookup(self.quantizer.codes(continuous))
        snap = min(1.0, (step + 1) / self.config.quantize_warmup) if self.config.quantize_warmup else 1.0
        decoder_input = continuous + snap * (quantized - continuous).detach()
        recon = reconstruction_loss(self.decode_logits(decoder_input), images)
        quantize, commit = self.quantizer.losses(continuous, quantized)
        total = recon + self.config.quantize_weight * quantize + self.config.commit_weight * commit
        return total, {
            "loss": total.item(),
            "recon": recon.item(),
            "quantize": quantize.item(),
            "commit": commit.item(),
        }
