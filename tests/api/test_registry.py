"""The model registry: models index at start-up and load on first use (once, however many ask),
least recently used ones are evicted beyond the memory budget and come back the same, population
encodings live in the on-disk cache, in-memory models are added and removed, and model folders
copied into (or removed from) a running server's models folder appear (or go) without a restart."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from devtools import LocalServer
from latentatlas.config import Settings
from latentatlas.families import build_model, families, model_config
from latentatlas.nets import NetConfig
from latentatlas.serve import registry as registry_module
from latentatlas.serve.app import create_app
from latentatlas.serve.derived_cache import DerivedCache
from latentatlas.serve.registry import ModelRegistry
from latentatlas.serve.services.core import ModelService
from latentatlas.serve.services.population import PopulationService
from latentatlas.store.folders import CONFIG_FILE, WEIGHTS_FILE, load_model_folder

CPU = torch.device("cpu")


@pytest.fixture
def two_models(tmp_path, models_dir, ids) -> Path:
    """A models folder holding only the two healthy test models."""
    root = tmp_path / "models"
    for model_id in (ids.qlae, ids.vae):
        shutil.copytree(models_dir / model_id, root / model_id)
    return root


def _decode(service: ModelService) -> bytes:
    return service.decode_png(service.description.latent_mean.tolist())


def test_eviction_and_reload_give_the_same_answers(two_models, ids):
    registry = ModelRegistry(two_models, CPU, memory_budget=1)  # room for one model at a time
    assert registry.loaded == {} and set(registry.models) == {ids.qlae, ids.vae}
    first = registry.get(ids.qlae)
    before = _decode(first), first.encode(first.dataset_images([0, 1])).model_dump()
    registry.get(ids.vae)
    assert list(registry.loaded) == [ids.vae]  # the qlae was evicted: over the budget, least recently used
    again = registry.get(ids.qlae)
    assert again is not first and list(registry.loaded) == [ids.qlae]
    assert (_decode(again), again.encode(again.dataset_images([0, 1])).model_dump()) == before
    assert registry.loaded_bytes() == again.memory_bytes() > 0


def test_the_budget_keeps_recently_used_models(two_models, ids):
    registry = ModelRegistry(two_models, CPU, memory_budget=1 << 30)
    qlae = registry.get(ids.qlae)
    registry.get(ids.vae)
    assert registry.get(ids.qlae) is qlae and set(registry.loaded) == {ids.qlae, ids.vae}


def test_population_cache_is_on_disk_and_survives_eviction(two_models, ids, tmp_path):
    cache = DerivedCache(tmp_path / "cache")
    registry = ModelRegistry(two_models, CPU, memory_budget=1, cache=cache)
    first = PopulationService.of(registry.get(ids.qlae)).population(24, 3)
    files = list((tmp_path / "cache" / "population").iterdir())
    assert not first.cached and len(files) == 1
    second = PopulationService.of(registry.get(ids.qlae)).population(24, 3)
    assert second.cached and second.latents == first.latents
    registry.get(ids.vae)  # evicts the qlae
    assert ids.qlae not in registry.loaded
    reloaded = PopulationService.of(registry.get(ids.qlae)).population(24, 3)
    assert reloaded.cached and reloaded.model_dump(exclude={"cached"}) == first.model_dump(exclude={"cached"})
    other = PopulationService.of(registry.get(ids.qlae)).population(24, 4)  # another seed: computed
    assert not other.cached and len(list((tmp_path / "cache" / "population").iterdir())) == 2


def test_an_unreadable_cached_population_is_computed_again(two_models, ids, tmp_path):
    registry = ModelRegistry(two_models, CPU, cache=DerivedCache(tmp_path / "cache"))
    first = PopulationService.of(registry.get(ids.vae)).population(16, 0)
    (stored,) = (tmp_path / "cache" / "population").iterdir()
    stored.write_text('{"n": "from another version"}')
    again = PopulationService.of(registry.get(ids.vae)).population(16, 0)
    assert not again.cached and again.latents == first.latents


def test_concurrent_first_use_loads_once(two_models, ids, monkeypatch):
    calls = []

    def slow_load(folder, device):
        calls.append(folder.name)
        time.sleep(0.3)  # long enough for every thread to ask while the first load runs
        return load_model_folder(folder, device)

    monkeypatch.setattr(registry_module, "load_model_folder", slow_load)
    registry = ModelRegistry(two_models, CPU)
    got: list[ModelService | None] = []
    threads = [threading.Thread(target=lambda: got.append(registry.get(ids.qlae))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [ids.qlae] and len(got) == 8 and all(service is got[0] for service in got)


def test_a_model_that_fails_to_load_moves_to_failed(two_models, ids, models_dir):
    """A VAE config over the QLAE's weights indexes (config and card are fine) but cannot load:
    the first request says why (404, not 500), the model leaves the list and /readyz reports it."""
    bad = two_models / "mismatched"
    shutil.copytree(two_models / ids.vae, bad)
    shutil.copy(models_dir / ids.qlae / WEIGHTS_FILE, bad / WEIGHTS_FILE)
    with TestClient(create_app(Settings(models_dir=two_models))) as client:
        assert "mismatched" in {m["id"] for m in client.get("/api/models").json()["models"]}
        assert client.get("/readyz").status_code == 200
        response = client.get("/api/models/mismatched")
        assert response.status_code == 404 and "failed to load" in response.json()["detail"]
        assert "mismatched" not in {m["id"] for m in client.get("/api/models").json()["models"]}
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "RuntimeError" in ready.json()["failed"]["mismatched"]
        assert client.post("/api/models/mismatched/decode", json={"latent": [0.0] * 12}).status_code == 404


def test_in_memory_models_are_added_and_removed(two_models, ids, models_dir):
    registry = ModelRegistry(two_models, CPU, memory_budget=1)
    service = ModelService(load_model_folder(models_dir / ids.qlae), CPU, "explored")
    generation = registry.generation
    registry.add("explored", service)
    assert registry.generation > generation and registry.models["explored"] is service.description
    registry.get(ids.qlae)
    registry.get(ids.vae)  # over the budget: folder models go, the in-memory one stays
    assert registry.get("explored") is service and "explored" in registry.loaded
    assert registry.remove("explored") and registry.get("explored") is None and "explored" not in registry.models
    assert not registry.remove("explored")


def test_a_half_written_folder_is_not_served_until_complete(two_models, ids, caplog):
    caplog.set_level(logging.INFO, logger="latentatlas.serve")
    registry = ModelRegistry(two_models, CPU)
    registry.watching = True
    folder = two_models / "arriving"
    folder.mkdir()
    (folder / CONFIG_FILE).write_text((two_models / ids.qlae / CONFIG_FILE).read_text())
    weights = (two_models / ids.qlae / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).write_bytes(weights[: len(weights) // 3])
    registry.rescan()
    assert "arriving" not in registry.models and "arriving" not in registry.failed
    assert registry.waiting_for == {"arriving"}
    (folder / WEIGHTS_FILE).write_bytes(weights)
    registry.rescan()
    assert "arriving" in registry.models and registry.waiting_for == set()
    assert "model folder arriving is being written" in caplog.text and "serving model arriving" in caplog.text
    shutil.copytree(two_models / ids.vae, two_models / "copy.partial")  # a temporary name
    registry.rescan()
    assert "copy.partial" not in registry.models


def _served(server: LocalServer) -> set[str]:
    return {model["id"] for model in server.json("/api/models")["models"]}


def _wait_for(condition, timeout_s: float = 15.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "the server did not pick up the change in time"
        time.sleep(0.2)
    return time.monotonic() - started


def test_a_running_server_serves_folders_copied_in_and_drops_removed_ones(two_models, ids, tmp_path):
    with LocalServer(two_models, tmp_path / "server.log") as server:
        ready = server.json("/readyz")
        assert ready["status"] == "ready" and ready["models"] == 2 and ready["loaded"] == 0  # nothing loaded yet
        listed = server.json("/api/models")
        assert {m["id"] for m in listed["models"]} == {ids.qlae, ids.vae}
        # half-written: a config and a third of the weights (a copy in progress) is not served
        arriving = two_models / "arriving"
        arriving.mkdir()
        (arriving / CONFIG_FILE).write_text((two_models / ids.qlae / CONFIG_FILE).read_text())
        weights = (two_models / ids.qlae / WEIGHTS_FILE).read_bytes()
        (arriving / WEIGHTS_FILE).write_bytes(weights[: len(weights) // 3])
        shutil.copytree(two_models / ids.vae, two_models / "copy-of-vae")
        _wait_for(lambda: "copy-of-vae" in _served(server))
        assert "arriving" not in _served(server) and "arriving" not in server.json("/readyz")["failed"]
        (arriving / WEIGHTS_FILE).write_bytes(weights)
        _wait_for(lambda: "arriving" in _served(server))
        after = server.json("/api/models")
        assert after["generation"] > listed["generation"] and after["changed_at"] > listed["changed_at"]
        assert server.json("/api/models/copy-of-vae")["id"] == "copy-of-vae"  # loads and serves
        shutil.rmtree(two_models / "copy-of-vae")
        _wait_for(lambda: "copy-of-vae" not in _served(server))
        assert _served(server) == {ids.qlae, ids.vae, "arriving"}


def test_readyz_answers_before_any_model_loads(two_models, ids):
    with TestClient(create_app(Settings(models_dir=two_models))) as client:
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["loaded"] == 0
        assert client.app.state.registry.loaded == {}


def test_a_removed_folder_is_unknown_after_a_rescan(two_models, ids):
    registry = ModelRegistry(two_models, CPU)
    assert registry.get(ids.vae) is not None
    shutil.rmtree(two_models / ids.vae)
    assert registry.rescan() and registry.get(ids.vae) is None
    assert ids.vae not in registry.loaded and ids.vae not in registry.failed and not registry.rescan()


@pytest.mark.parametrize("kind", [kind for kind, family in families().items() if family.capabilities.codes])
def test_codebooks_read_from_the_weights_are_the_models(kind):
    """The model list reads the codebooks from the weights file by the name the family declares."""
    config = model_config(
        kind=kind, latent_dim=3, net=NetConfig(image_size=32, channels=1, widths=(8, 8, 8), hidden=16)
    )
    model = build_model(config)
    assert torch.equal(model.state_dict()[model.config.codebook_weights], model.codebooks())


def test_listing_codebooks_match_the_loaded_model(two_models, ids):
    registry = ModelRegistry(two_models, CPU)
    listed = registry.models[ids.qlae].info().codebooks
    assert listed is not None and listed == registry.get(ids.qlae).model.codebooks().tolist()
