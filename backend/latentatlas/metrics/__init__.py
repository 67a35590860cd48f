"""Disentanglement metrics over numpy arrays.

z is (N, D) latents, y is (N, K) integer factors.  Each metric is a public
``compute_*`` function returning a small frozen dataclass; ``compute_metrics``
runs a selection of them on a train/test split and returns plain JSON.
"""

from latentatlas.metrics.betavae import BetaVAEResult, compute_beta_vae
from latentatlas.metrics.dci import DCIResult, completeness, compute_dci, compute_dci_fast, disentanglement
from latentatlas.metrics.factorvae import (
    FactorVAEResult,
    GroundTruthDataset,
    compute_factor_vae,
    compute_factor_vae_corrected,
)
from latentatlas.metrics.infomec import InfoMECResult, compute_infomec
from latentatlas.metrics.mig import MIGResult, compute_mig
from latentatlas.metrics.modularity import (
    ExplicitnessResult,
    ModularityResult,
    compute_explicitness,
    compute_modularity,
)
from latentatlas.metrics.report import (
    DEFAULT_METRICS,
    METRIC_NAMES,
    MetricsInputError,
    compute_metrics,
    format_table,
    load_metrics_file,
)
from latentatlas.metrics.sap import SAPResult, compute_sap

__all__ = [
    "DEFAULT_METRICS",
    "METRIC_NAMES",
    "BetaVAEResult",
    "DCIResult",
    "ExplicitnessResult",
    "FactorVAEResult",
    "GroundTruthDataset",
    "InfoMECResult",
    "MIGResult",
    "MetricsInputError",
    "ModularityResult",
    "SAPResult",
    "completeness",
    "compute_beta_vae",
    "compute_dci",
    "compute_dci_fast",
    "compute_explicitness",
    "compute_factor_vae",
    "compute_factor_vae_corrected",
    "compute_infomec",
    "compute_metrics",
    "compute_mig",
    "compute_modularity",
    "compute_sap",
    "disentanglement",
    "format_table",
    "load_metrics_file",
]
