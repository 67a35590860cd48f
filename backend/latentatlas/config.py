"""Server settings, read from the environment with the prefix ``LATENTATLAS_`` (pydantic-settings).

Example: ``LATENTATLAS_MODELS_DIR=/data/models LATENTATLAS_TORCH_THREADS=4 latentatlas serve``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LATENTATLAS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    models_dir: Path = REPO_ROOT / "models"
    frontend_dir: Path = REPO_ROOT / "frontend"
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto picks CUDA when present")
    torch_threads: int = Field(
        2, ge=1, le=256, description="torch intra-op threads: other processes may share the cores"
    )
    request_threads: int = Field(
        4,
        ge=1,
        le=256,
        description="threads running blocking request work (inference, image decoding); each may start its own torch "
        "(OpenMP) team of torch_threads, so memory grows with their product",
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest accepted upload (413 above)")
    max_image_pixels: int = Field(
        40_000_000,
        ge=64 * 64,
        description="largest accepted width x height, checked before decoding pixels (JPEG is decoded shrunk)",
    )
    max_decoded_pixels: int = Field(
        16_000_000,
        ge=64 * 64,
        description="largest width x height of formats decoded at full size (PNG, WebP, GIF): 64 MB as RGBA",
    )
    max_decode_batch: int = Field(1024, ge=1, description="most images one request may decode (traversals, samples)")
    max_batch_images: int = Field(
        64, ge=1, le=1024, description="most files one batch encode (/encode-batch) may carry; more are refused (422)"
    )
    max_jobs: int = Field(2, ge=1, le=64, description="metric jobs computing at once; more are refused with 429")
    max_inflight_per_model: int = Field(
        32, ge=1, description="inference requests waiting for or running on one model; more get 503"
    )
    max_inflight_total: int = Field(
        48,
        ge=1,
        description="inference requests (POSTs under /api/models/) inside the server at once; more get 503 at the door",
    )
    max_json_bytes: int = Field(
        256 * 1024, ge=1024, description="largest accepted body that is not an upload (JSON; 413 above)"
    )
    body_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="a request body must arrive within this many seconds, plus 1 s per body_min_rate bytes (408 after)",
    )
    body_min_rate: float = Field(
        16 * 1024, gt=0, description="bytes per second a slow body must keep up to earn more time"
    )
    body_max_seconds: float = Field(120.0, gt=0, description="no request body may take longer than this (408)")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="a connection must send complete request headers within this long"
    )
    max_connections: int = Field(
        256,
        ge=2,
        description="connections held at once; beyond, the longest-idle one is closed (503 when all are busy)",
    )
    keep_alive_seconds: float = Field(5.0, gt=0, description="idle keep-alive connections are closed after this long")
    max_live_sessions: int = Field(64, ge=1, description="WebSocket live sessions open at once (more are refused)")
    max_live_sessions_per_client: int = Field(
        8, ge=1, description="WebSocket live sessions one client address may hold"
    )
    live_idle_seconds: float = Field(
        300.0, gt=0, description="a live session that sends nothing for this long is closed"
    )
    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "[::1]"],
        description='Host headers served (others get 400: DNS rebinding); JSON list, e.g. ["atlas.example.org"], or ["*"]',
    )
    log_level: str = Field("info", pattern=r"^(debug|info|warning|error)$", description="the server's log level")
    log_json: bool = Field(
        False, description="log one JSON object per line (time, level, logger, message) instead of text"
    )
    cors_origins: list[str] = Field(default_factory=list, description='JSON list, e.g. ["http://localhost:5173"]')
    state_dir: Path = Field(
        default_factory=lambda: Path.home() / ".local" / "state" / "latentatlas",
        description="a writable folder for what the server derives: runs (metrics, analyses) of models whose folder "
        "is read-only, under runs/<folder name>/, population encodings (derived/) and the ONNX cache (onnx/) unless "
        "cache_dir or onnx_cache_dir say otherwise",
    )
    model_memory_mb: int = Field(
        256,
        ge=1,
        description="memory for loaded models' weights: beyond it the least recently used models are unloaded "
        "(and loaded again, the same, when next used); a model larger than the budget is still served",
    )
    cache_dir: Path = Field(
        default_factory=lambda fields: fields["state_dir"] / "derived",
        description="where large results derived from models (population encodings) are kept on disk, keyed by "
        "the model's SHA-256 (survives unloading and restarts; default: state_dir/derived)",
    )
    onnx_cache_dir: Path = Field(
        default_factory=lambda fields: fields["state_dir"] / "onnx",
        description="where models' ONNX decoders/encoders are exported once (keyed by the weights' SHA-256) for decoding "
        "in the browser (default: state_dir/onnx)",
    )
