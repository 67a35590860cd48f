"""Evaluation of trained models: held-out quality and card pictures (``quality``, ``cards``),
disentanglement metric runs (``disentanglement``), ordered-latent curves against PCA (``flow``)
and the ensembles' information-fragment analysis (``ensemble``). It reads models through
:mod:`latentatlas.store` and the pure math of :mod:`latentatlas.metrics` and
:mod:`latentatlas.fragments`; it imports nothing from training or the server."""
