"""Assertions the API tests share (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations


def assert_detail(response, status: int, *keywords: str) -> str:
    """Assert the status and that the `detail` string names the problem (case-insensitive keywords)."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail, detail
    for keyword in keywords:
        assert keyword.lower() in detail.lower(), (keyword, detail)
    return detail
