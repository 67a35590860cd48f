"""Stopping exact DCI from outside (a cancelled metrics job): the flag is polled after every
boosting stage, in-process and in joblib's worker processes, and ends the fits there; a flag never
set changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from latentatlas.metrics.dci import compute_dci
from latentatlas.stopping import StopFlag, Stopped


def _data(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, size=(n, 2))
    z = np.concatenate([y + 0.3 * rng.standard_normal(y.shape), rng.standard_normal((n, 2))], axis=1)
    return z[:200], y[:200], z[200:], y[200:]


def test_a_flag_that_is_never_set_leaves_dci_as_it_was():
    data = _data()
    plain = compute_dci(*data, n_jobs=1, seed=3)
    watched = compute_dci(*data, n_jobs=1, seed=3, should_stop=lambda: False)
    np.testing.assert_array_equal(plain.importance_matrix, watched.importance_matrix)
    assert (plain.disentanglement, plain.informativeness_test) == (
        watched.disentanglement,
        watched.informativeness_test,
    )


def test_dci_stops_within_a_boosting_stage_in_process():
    polls = []

    def stop_after_three() -> bool:
        polls.append(1)
        return len(polls) >= 3

    with pytest.raises(Stopped):
        compute_dci(*_data(), n_jobs=1, should_stop=stop_after_three)
    # 3 polls ended the first fit (100 stages without the flag); then one poll per finished factor
    assert len(polls) <= 3 + 2 * 2


def test_a_set_flag_stops_dci_in_worker_processes(tmp_path):
    flag = StopFlag(tmp_path / "stop")
    assert not flag()
    flag.set()
    assert flag()
    with pytest.raises(Stopped):
        compute_dci(*_data(), n_jobs=2, should_stop=flag)
    flag.clear()
    assert not flag()
