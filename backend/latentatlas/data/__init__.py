"""Datasets: procedural dSprites and Shapes3D, the field's official files (dSprites, Shapes3D,
MPI3D, CelebA) with their ground-truth factors, and the user's image folders (labelled or not).

:mod:`~latentatlas.data.spec` names a dataset (no torch); :mod:`~latentatlas.data.registry`'s
``load_dataset`` opens one; :mod:`~latentatlas.data.base` is the interface every dataset implements."""
