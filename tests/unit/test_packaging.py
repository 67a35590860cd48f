"""Packaging: the compose file in the repository root is valid (when Docker Compose is available)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _compose_command() -> list[str] | None:
    """The Compose client present here: the `docker compose` plugin, else the standalone `docker-compose`."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        try:
            probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return command
    return None


def test_compose_config_is_valid():
    command = _compose_command()
    if command is None:
        pytest.skip("no Docker Compose client here (neither `docker compose` nor `docker-compose`)")
    assert (REPO_ROOT / "docker-compose.yml").is_file()
    result = subprocess.run([*command, "config", "-q"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _compose() -> dict:
    compose = REPO_ROOT / "docker-compose.yml"
    if not compose.is_file():
        pytest.skip("docker-compose.yml is not written yet")
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(compose.read_text())


def test_compose_services_build_from_a_dockerfile():
    services = _compose()["services"]
    assert services
    for name, service in services.items():
        build = service.get("build")
        if build is None:
            continue
        context = REPO_ROOT / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (context / dockerfile).is_file(), (name, context / dockerfile)


def test_compose_environment_is_valid_settings(monkeypatch):
    """Every LATENTATLAS_ variable the compose file sets names a setting and passes its validation."""
    from latentatlas.config import Settings

    for name, service in _compose()["services"].items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        ours = {key: str(value) for key, value in environment.items() if key.startswith("LATENTATLAS_")}
        for key in ours:
            assert key.removeprefix("LATENTATLAS_").lower() in Settings.model_fields, (name, key)
        with monkeypatch.context() as patch:
            for key, value in ours.items():
                patch.setenv(key, value)
            Settings()  # raises if a value is invalid


def _stages() -> list[list[str]]:
    """The Dockerfile's build stages, each a list of instruction lines (comments dropped)."""
    stages: list[list[str]] = []
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_image_is_multi_stage_non_root_and_node_free():
    stages = _stages()
    assert len(stages) >= 2
    runtime = "\n".join(stages[-1])
    assert "nodejs" not in runtime and "npm " not in runtime  # Node.js stays in the build stage
    users = [line.split()[1] for line in stages[-1] if line.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in runtime and "/readyz" in runtime
    assert "COPY --from=" in runtime


def test_the_build_context_leaves_the_models_out():
    """Models are mounted as the volume compose declares, never sent with every build."""
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    assert "models" in ignored and ".git" in ignored and "frontend/node_modules" in ignored
    volumes = [v for service in _compose()["services"].values() for v in service.get("volumes", [])]
    # the models from the host (read-only), and a named volume for what the server derives
    assert volumes and all(v.startswith("./models:/app/models") or v == "state:/app/state" for v in volumes)
