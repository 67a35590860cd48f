"""Bounded inference: beyond the in-flight bounds a request gets 503 with Retry-After at once
(never an endless queue), the others are still served, and health checks stay fast."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
from api_assertions import assert_detail as _detail
from fastapi.testclient import TestClient

from latentatlas.config import Settings
from latentatlas.serve.admission import Admission, FairLock, OverloadedError
from latentatlas.serve.app import create_app


@contextmanager
def decode_in_flight(client, model_id: str, latent: list[float]):
    """A decode of ``model_id`` sent from another thread and held inside the model until the
    block ends; yields the dict its response lands in (under "first")."""
    service = client.app.state.registry.get(model_id)
    release, entered = threading.Event(), threading.Event()
    real_decode = service.model.decode

    def slow_decode(latents):
        entered.set()
        release.wait(10)
        return real_decode(latents)

    service.model.decode = slow_decode
    results: dict = {}
    worker = threading.Thread(
        target=lambda: results.setdefault(
            "first", client.post(f"/api/models/{model_id}/decode", json={"latent": latent})
        )
    )
    worker.start()
    try:
        assert entered.wait(10)
        yield results
    finally:
        release.set()
        worker.join(10)
        service.model.decode = real_decode


def test_the_model_lock_serves_waiters_in_arrival_order():
    """A thread that releases and at once asks again queues behind the threads already waiting."""
    lock, order = FairLock(), []
    lock.__enter__()
    waiters = []
    for name in ("b", "c", "d"):
        waiter = threading.Thread(target=lambda name=name: (lock.__enter__(), order.append(name), lock.__exit__()))
        waiter.start()
        waiters.append(waiter)
        time.sleep(0.05)  # each takes its ticket before the next starts
    lock.__exit__()
    with lock:  # the releasing thread asks straight back: it comes last
        order.append("a again")
    for waiter in waiters:
        waiter.join(5)
    assert order == ["b", "c", "d", "a again"]


def test_admission_bounds_each_model():
    """Per model; the bound over all models is the door's (test below)."""
    admission = Admission(per_model=1)
    locks = {"a": FairLock(), "b": FairLock()}
    with admission.slot("a", locks["a"]):
        with pytest.raises(OverloadedError, match="model a is busy"):
            with admission.slot("a", locks["a"]):
                pass
        with admission.slot("b", locks["b"]):
            assert admission.in_flight("a") == admission.in_flight("b") == 1
    assert admission.in_flight("a") == admission.in_flight("b") == 0  # released, even after refusals


def test_overflow_is_503_with_retry_after_and_health_stays_fast(models_dir, ids, model_infos):
    settings = Settings(models_dir=models_dir, max_inflight_per_model=1, max_inflight_total=8)
    latent = {"latent": model_infos[ids.qlae]["latent_mean"]}
    with TestClient(create_app(settings)) as client:
        with decode_in_flight(client, ids.qlae, latent["latent"]) as results:
            refused = client.post(f"/api/models/{ids.qlae}/decode", json=latent)
            _detail(refused, 503, "busy")
            assert int(refused.headers["retry-after"]) >= 1
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            assert time.perf_counter() - started < 1.0
            # Another model is not blocked by this one's queue.
            other = client.post(f"/api/models/{ids.vae}/decode", json={"latent": model_infos[ids.vae]["latent_mean"]})
            assert other.status_code == 200
        assert results["first"].status_code == 200
        assert client.post(f"/api/models/{ids.qlae}/decode", json=latent).status_code == 200  # the slot was freed


def test_a_large_request_is_decoded_in_chunks_that_let_others_through(models_dir, ids, model_infos):
    """A 160-image traversal takes the model's lock per chunk of 64, so a single decode sent while
    it runs is answered before the traversal finishes."""
    from latentatlas.serve.services.core import DECODE_CHUNK

    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        service = client.app.state.registry.get(ids.qlae)
        real_decode = service.model.decode
        sizes, events = [], []
        first_chunk = threading.Event()

        def slow_decode(latents):
            sizes.append(len(latents))
            if len(latents) > 1:
                first_chunk.set()
                time.sleep(0.3)
            events.append(("chunk" if len(latents) > 1 else "single", time.perf_counter()))
            return real_decode(latents)

        service.model.decode = slow_decode
        info = model_infos[ids.qlae]
        body = {"latent": info["latent_mean"], "dims": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 2, "steps": 8}
        replies = {}
        worker = threading.Thread(
            target=lambda: replies.setdefault("traverse", client.post(f"/api/models/{ids.qlae}/traverse", json=body))
        )
        try:
            worker.start()
            assert first_chunk.wait(10)
            single = client.post(f"/api/models/{ids.qlae}/decode", json={"latent": info["latent_mean"]})
            worker.join(30)
        finally:
            service.model.decode = real_decode
        assert single.status_code == 200 and replies["traverse"].status_code == 200
        images = 20 * len(info["codebooks"][0])
        assert sum(s for s in sizes if s > 1) == images and max(sizes) <= DECODE_CHUNK
        kinds = [kind for kind, _ in events]
        assert kinds.index("single") < len(kinds) - 1, kinds  # it did not wait for the whole traversal


def test_request_threads_are_sized_from_settings(models_dir):
    import anyio

    with TestClient(create_app(Settings(models_dir=models_dir, request_threads=3))) as client:
        assert client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens) == 3


def test_the_door_bounds_inference_requests_before_they_queue_for_a_thread(models_dir, ids, model_infos):
    vae_latent = {"latent": model_infos[ids.vae]["latent_mean"]}
    with TestClient(create_app(Settings(models_dir=models_dir, max_inflight_total=1))) as client:
        with decode_in_flight(client, ids.qlae, model_infos[ids.qlae]["latent_mean"]):
            refused = client.post(f"/api/models/{ids.vae}/decode", json=vae_latent)
            _detail(refused, 503, "busy", "limit is 1")
            assert refused.headers["retry-after"] == "1"
            assert client.get("/api/models").status_code == 200  # reads pass the door
        assert client.post(f"/api/models/{ids.vae}/decode", json=vae_latent).status_code == 200
