"""The OpenAPI document is the truth: schemathesis (property-based, from the served
/openapi.json) sends generated requests, valid and invalid, to every operation of a real server
and checks each answer: never a server error, every status documented for its operation, every
body matching its documented schema. The job-starting operations (metrics, analyze) are left out:
each example would start minutes of background computation; their refusals are tested in
test_metrics_api.py and test_ensembles_api.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from devtools import LocalServer

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
EXAMPLES = 30  # per operation (derandomized: the same examples every run, so CI is reproducible)
SHIPPED = ("qlae-dsprites-3k", "eoflow-dsprites", "strkm-dsprites")  # codes; ordered latents; a prior


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzzed-models")
    for name in SHIPPED:
        shutil.copytree(REPO_MODELS / name, root / name, ignore=shutil.ignore_patterns("checkpoint"))
    with LocalServer(root, tmp_path_factory.mktemp("log") / "server.log") as server:
        yield schemathesis.openapi.from_url(server.url + "/openapi.json").exclude(path_regex=r"/(metrics|analyze)$")


def _failures(operation, calls: list[str]) -> list[str]:
    """What schemathesis found wrong with one operation (examples run by hypothesis); every
    request sent is appended to ``calls``."""
    found: list[str] = []

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy())
    def check(case):
        calls.append(operation.label)
        try:
            case.call_and_validate()
        except Exception as error:
            found.append(f"{operation.label}: {str(error).strip()[:600]}")

    check()
    return found


def test_every_operation_conforms_to_its_documentation(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    calls: list[str] = []
    failures = [failure for operation in operations for failure in _failures(operation, calls)]
    assert not failures, "\n\n".join(sorted(set(failures))[:20])
    assert set(calls) == {operation.label for operation in operations} and len(calls) >= 5 * len(operations)
