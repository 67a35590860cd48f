"""Assertions the API tests share (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import time

JOB_WAIT_S = 60


def assert_detail(response, status: int, *keywords: str) -> str:
    """Assert the status and that the `detail` string names the problem (case-insensitive keywords)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail, detail
    for keyword in keywords:
        assert keyword.lower() in detail.lower(), (keyword, detail)
    return detail


def wait_for_job(client, job_id: str, wait_s: float = JOB_WAIT_S) -> list[dict]:
    """Poll GET /api/jobs/{job_id} until the job is done, failed or cancelled (at most ``wait_s``
    seconds); every reply."""
    replies = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        response = client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        replies.append(response.json())
        if replies[-1]["status"] in ("done", "failed", "cancelled"):
            return replies
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {replies[-1]['status']} after {wait_s} s: {replies[-1]}")
