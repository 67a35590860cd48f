"""Whether an input is far from what a model was trained on, judged against its held-out data
(the card): it reconstructs ``FAR_PSNR_DB`` worse than the held-out images do, or (for a model
with a likelihood) is ``FAR_BITS_PER_DIM`` bits per dimension less likely.

The two rules say different things: only the first predicts a poor reconstruction. A flow is an
exact inverse (it reconstructs everything at its numerical limit), so it is only ever far by
likelihood, and its verdict must not promise a poor reconstruction (:meth:`Novelty.verdict`)."""

from __future__ import annotations

from dataclasses import dataclass

FAR_PSNR_DB = 6.0
FAR_BITS_PER_DIM = 1.0


@dataclass(frozen=True)
class Novelty:
    """Which rule found the input far: ``worse_reconstruction`` (psnr < heldout_psnr - FAR_PSNR_DB)
    and ``less_likely`` (bits > heldout_bits + FAR_BITS_PER_DIM), each False when a number is missing."""

    worse_reconstruction: bool
    less_likely: bool

    @property
    def far(self) -> bool:
        return self.worse_reconstruction or self.less_likely

    def verdict(self) -> str:
        """The end of the input's context line: what follows from the rules that fired, no more."""
        if self.worse_reconstruction and self.less_likely:
            return (
                ": it is far from what the model was trained on (much less likely than its held-out images), "
                "so expect a poor reconstruction."
            )
        if self.worse_reconstruction:
            return ": it is far from what the model was trained on, so expect a poor reconstruction."
        if self.less_likely:
            return (
                ": it is far from what the model was trained on by likelihood (much less likely than its held-out "
                "images), though it reconstructs as well as they do."
            )
        return "."


def judge_novelty(
    psnr_db: float | None,
    heldout_psnr_db: float | None,
    bits_per_dim: float | None = None,
    heldout_bits_per_dim: float | None = None,
) -> Novelty:
    """Both rules (each only when both of its numbers are known: a model without a decoder has no PSNR)."""
    worse = psnr_db is not None and heldout_psnr_db is not None and psnr_db < heldout_psnr_db - FAR_PSNR_DB
    less_likely = False
    if bits_per_dim is not None and heldout_bits_per_dim is not None:
        less_likely = bits_per_dim > heldout_bits_per_dim + FAR_BITS_PER_DIM
    return Novelty(worse_reconstruction=bool(worse), less_likely=bool(less_likely))
