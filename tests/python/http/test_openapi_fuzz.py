"""The OpenAPI document of /api/v1 fuzzed with schemathesis against a broker of its own: no
input, valid or not, gets a 5xx, and every answer matches the document (status codes, content
types, bodies)."""

import importlib.util
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

# The suite's root conftest (other directories have a conftest module of their own).
_spec = importlib.util.spec_from_file_location("ferry_suite_conftest", Path(__file__).parents[1] / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
FerryServer = _root.FerryServer

# Examples per operation: enough to reach every error path of each, small enough for CI.
EXAMPLES = 40


@pytest.fixture(scope="module")
def api_schema():
    with tempfile.TemporaryDirectory(prefix="ferry-fuzz-") as data_dir:
        server = FerryServer(Path(data_dir)).start()
        try:
            yield schemathesis.openapi.from_url(server.http_url + "/api/v1/openapi.json")
        finally:
            server.stop()


schema = schemathesis.pytest.from_fixture("api_schema")


# What the issue asks of every answer. Whether every schema-valid request is accepted is not
# among them: some rules (a body given as text or base64, not both; a destination that exists)
# are the server's to check and cannot be written in the document.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case):
    case.call_and_validate(checks=CHECKS)
