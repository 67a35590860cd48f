"""Bounded inference: beyond the in-flight bounds a request gets 503 with Retry-After at once
(never an endless queue), the others are still served, and health checks stay fast."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from latentatlas.config import Settings
from latentatlas.serve.admission import Admission, OverloadedError
from latentatlas.serve.app import create_app

from api_assertions import assert_detail as _detail


def test_admission_bounds_per_model_and_in_all():
    admission = Admission(per_model=1, total=2)
    locks = {"a": threading.Lock(), "b": threading.Lock(), "c": threading.Lock()}
    with admission.slot("a", locks["a"]):
        with pytest.raises(OverloadedError, match="model a is busy"):
            with admission.slot("a", locks["a"]):
                pass
        with admission.slot("b", locks["b"]):
            assert admission.in_flight() == 2
            with pytest.raises(OverloadedError, match="server is busy"):
                with admission.slot("c", locks["c"]):
                    pass
    assert admission.in_flight() == 0 and admission.in_flight("a") == 0  # released, even after refusals


def test_overflow_is_503_with_retry_after_and_health_stays_fast(models_dir, ids, model_infos):
    settings = Settings(models_dir=models_dir, max_inflight_per_model=1, max_inflight_total=8)
    with TestClient(create_app(settings)) as client:
        service = client.app.state.registry.get(ids.qlae)
        release, entered = threading.Event(), threading.Event()
        real_decode = service.model.decode

        def slow_decode(latents):
            entered.set()
            release.wait(10)
            return real_decode(latents)

        service.model.decode = slow_decode
        latent = {"latent": model_infos[ids.qlae]["latent_mean"]}
        results = {}
        worker = threading.Thread(target=lambda: results.setdefault("first", client.post(f"/api/models/{ids.qlae}/decode", json=latent)))
        worker.start()
        try:
            assert entered.wait(10)
            refused = client.post(f"/api/models/{ids.qlae}/decode", json=latent)
            _detail(refused, 503, "busy")
            assert int(refused.headers["retry-after"]) >= 1
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            assert time.perf_counter() - started < 1.0
            # Another model is not blocked by this one's queue.
            other = client.post(f"/api/models/{ids.vae}/decode", json={"latent": model_infos[ids.vae]["latent_mean"]})
            assert other.status_code == 200
        finally:
            release.set()
            worker.join(10)
            service.model.decode = real_decode
        assert results["first"].status_code == 200
        assert client.post(f"/api/models/{ids.qlae}/decode", json=latent).status_code == 200  # the slot was freed
