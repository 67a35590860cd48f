"""Whether an input is far from what a model was trained on, judged against its held-out data
(the card): it reconstructs ``FAR_PSNR_DB`` worse than the held-out images do, or (for a model
with a likelihood) is ``FAR_BITS_PER_DIM`` bits per dimension less likely."""

from __future__ import annotations

FAR_PSNR_DB = 6.0
FAR_BITS_PER_DIM = 1.0


def far_from_training(
    psnr_db: float, heldout_psnr_db: float | None, bits_per_dim: float | None = None, heldout_bits_per_dim: float | None = None
) -> bool:
    """psnr < heldout_psnr - FAR_PSNR_DB, or bits > heldout_bits + FAR_BITS_PER_DIM (each rule only
    when both of its numbers are known)."""
    worse = heldout_psnr_db is not None and psnr_db < heldout_psnr_db - FAR_PSNR_DB
    less_likely = bits_per_dim is not None and heldout_bits_per_dim is not None and bits_per_dim > heldout_bits_per_dim + FAR_BITS_PER_DIM
    return bool(worse or less_likely)
