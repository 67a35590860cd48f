"""Server settings from LATENTATLAS_ environment variables, and device selection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from pydantic_settings import SettingsError

from latentatlas.config import REPO_ROOT, Settings
from latentatlas.devices import resolve_device, set_threads


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No LATENTATLAS_ variable from the caller's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("LATENTATLAS_"):
            monkeypatch.delenv(name)


def test_defaults():
    settings = Settings()
    assert settings.host == "127.0.0.1" and settings.port == 8000
    assert settings.models_dir == REPO_ROOT / "models"
    assert settings.device == "auto" and settings.torch_threads >= 1
    assert settings.cors_origins == []


def test_environment_prefix_sets_fields(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENTATLAS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LATENTATLAS_TORCH_THREADS", "3")
    monkeypatch.setenv("LATENTATLAS_DEVICE", "cuda:1")
    monkeypatch.setenv("LATENTATLAS_CORS_ORIGINS", '["http://localhost:5173", "https://atlas.example"]')
    monkeypatch.setenv("LATENTATLAS_PORT", "9001")
    monkeypatch.setenv("LATENTATLAS_MAX_UPLOAD_BYTES", "2048")
    settings = Settings()
    assert settings.models_dir == tmp_path / "models" and isinstance(settings.models_dir, Path)
    assert settings.torch_threads == 3
    assert settings.device == "cuda:1"
    assert settings.cors_origins == ["http://localhost:5173", "https://atlas.example"]
    assert settings.port == 9001
    assert settings.max_upload_bytes == 2048


def test_unprefixed_variables_are_ignored(monkeypatch):
    monkeypatch.setenv("TORCH_THREADS", "7")
    monkeypatch.setenv("DEVICE", "cpu")
    settings = Settings()
    assert settings.torch_threads == Settings.model_fields["torch_threads"].default
    assert settings.device == "auto"


def test_keyword_arguments_override_the_environment(monkeypatch):
    monkeypatch.setenv("LATENTATLAS_DEVICE", "cpu")
    assert Settings(device="auto").device == "auto"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("device", "tpu"),
        ("device", "cuda:x"),
        ("torch_threads", 0),
        ("torch_threads", 1000),
        ("port", 70000),
        ("port", 0),
        ("max_upload_bytes", 10),
        ("max_image_pixels", 100),
        ("max_decode_batch", 0),
    ],
)
def test_invalid_values_raise(field, value):
    with pytest.raises(ValidationError) as error:
        Settings(**{field: value})
    assert field in str(error.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("LATENTATLAS_DEVICE", "tpu"), ("LATENTATLAS_TORCH_THREADS", "0"), ("LATENTATLAS_PORT", "70000")],
)
def test_invalid_environment_values_raise(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("LATENTATLAS_").lower()):
        Settings()


def test_cors_origins_must_be_a_json_list(monkeypatch):
    monkeypatch.setenv("LATENTATLAS_CORS_ORIGINS", "http://localhost:5173")  # not JSON
    with pytest.raises(SettingsError, match="cors_origins"):
        Settings()


# -- devices ----------------------------------------------------------------------------


def test_resolve_device_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: auto picks it")
def test_resolve_device_auto_is_cpu_without_cuda():
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_resolve_device_auto_is_cuda_with_cuda():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_resolve_device_cuda_without_cuda_raises(name):
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(name)


def test_set_threads_sets_and_floors_at_one():
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
