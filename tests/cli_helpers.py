"""Command lines shared by the CLI tests: the options that make a training tiny and quick on a CPU."""

from __future__ import annotations

from pathlib import Path

TINY = ["--image-size", "16", "--widths", "8,8", "--batch-size", "8", "--threads", "1", "--device", "cpu"]


def train_command(kind: str, out: Path, *options: str) -> list[str]:
    """``latentatlas train KIND --out OUT OPTIONS...`` with the tiny-model options appended."""
    return ["train", kind, "--out", str(out), *options, *TINY]
