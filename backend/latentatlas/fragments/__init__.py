"""Information fragments (Murphy, Dillavou & Bassett, TMLR 2025, arXiv 2405.21042).

Channels are 1-D Gaussian posteriors over a probe set: ``mu`` and ``logvar``
arrays of shape (M channels, N probe points).  Each channel is fingerprinted by
its N x N Bhattacharyya coefficients; channels are compared by generalised NMI
and variation of information (bits), with each other and with ground-truth
factors ``y`` (N, K), and clustered into hotspots with OPTICS.
"""

from latentatlas.fragments.fingerprint import (
    ACTIVE_THRESHOLD_BITS,
    FingerprintResult,
    bhattacharyya_distances,
    compute_fingerprint,
)
from latentatlas.fragments.hotspots import Hotspot, HotspotResult, compute_hotspots, hotspot_distance
from latentatlas.fragments.report import (
    FragmentsInputError,
    compute_fragments,
    format_summary,
    load_fragments_file,
    validate_inputs,
)
from latentatlas.fragments.similarity import (
    FactorSimilarityResult,
    SimilarityResult,
    compute_factor_similarity,
    compute_similarity,
)

__all__ = [
    "ACTIVE_THRESHOLD_BITS",
    "FactorSimilarityResult",
    "FingerprintResult",
    "FragmentsInputError",
    "Hotspot",
    "HotspotResult",
    "SimilarityResult",
    "bhattacharyya_distances",
    "compute_factor_similarity",
    "compute_fingerprint",
    "compute_fragments",
    "compute_hotspots",
    "compute_similarity",
    "format_summary",
    "hotspot_distance",
    "load_fragments_file",
    "validate_inputs",
]
