"""What the whole of `/api/v1` shares, against the real server: the OpenAPI document lists every
endpoint, the overview counts what flows, and unknown paths and methods answer in the error shape."""

import pytest

from api_helpers import Api, assert_error, unique


@pytest.fixture
def api(ferry_server):
    return Api(ferry_server)


def test_openapi_document_lists_every_endpoint(api):
    doc = api.ok("GET", "/openapi.json", 200)
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    expected = {
        "/api/v1/overview": {"get"},
        "/api/v1/queues": {"get", "post"},
        "/api/v1/queues/{name}": {"get", "patch", "delete"},
        "/api/v1/queues/{name}/messages": {"get", "post"},
        "/api/v1/queues/{name}/receive": {"post"},
        "/api/v1/queues/{name}/ack": {"post"},
        "/api/v1/queues/{name}/nack": {"post"},
        "/api/v1/queues/{name}/purge": {"post"},
        "/api/v1/queues/{name}/redrive": {"post"},
        "/api/v1/topics": {"get", "post"},
        "/api/v1/topics/{name}": {"get", "patch", "delete"},
        "/api/v1/topics/{name}/records": {"get", "post"},
        "/api/v1/groups": {"get"},
        "/api/v1/groups/{group}": {"get", "delete"},
        "/api/v1/groups/{group}/reset-offsets": {"post"},
        "/api/v1/exchanges": {"get", "post"},
        "/api/v1/exchanges/{name}": {"get", "delete"},
        "/api/v1/exchanges/{name}/publish": {"post"},
        "/api/v1/bindings": {"get", "post", "delete"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    assert "ErrorAnswer" in doc["components"]["schemas"]


def test_overview_counts_queues_and_messages(api):
    before = api.ok("GET", "/overview", 200)
    queue = unique("ov")
    api.create_queue(queue)
    api.send(queue, "one")
    after = api.ok("GET", "/overview", 200)
    assert after["version"]
    assert after["counts"]["queues"] >= before["counts"]["queues"] + 1
    assert after["totals"]["enqueued"] >= before["totals"]["enqueued"] + 1


def test_an_unknown_path_answers_404_in_the_error_shape(api):
    assert_error(api.get("/no-such-thing"), 404, "not_found")


def test_a_wrong_method_answers_405_in_the_error_shape(api):
    response = api.request("PUT", "/queues", json={"name": unique("q")})
    assert response.status_code == 405
    assert response.json()["error"]["code"]
