"""What every /api/v1 endpoint shares: the OpenAPI document served and complete, unknown paths
and malformed path segments answered in the API's error shape."""

import requests


def api(server, path):
    return server.http_url + "/api/v1" + path


def test_the_openapi_document_names_every_endpoint(ferry_server):
    r = requests.get(api(ferry_server, "/openapi.json"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    operations = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    expected = {
        ("GET", "/api/v1/queues"),
        ("POST", "/api/v1/queues"),
        ("GET", "/api/v1/queues/{name}"),
        ("PATCH", "/api/v1/queues/{name}"),
        ("DELETE", "/api/v1/queues/{name}"),
        ("POST", "/api/v1/queues/{name}/messages"),
        ("GET", "/api/v1/queues/{name}/messages"),
        ("POST", "/api/v1/queues/{name}/receive"),
        ("POST", "/api/v1/queues/{name}/ack"),
        ("POST", "/api/v1/queues/{name}/nack"),
        ("POST", "/api/v1/queues/{name}/purge"),
        ("POST", "/api/v1/queues/{name}/redrive"),
        ("GET", "/api/v1/topics"),
        ("POST", "/api/v1/topics"),
        ("GET", "/api/v1/topics/{name}"),
        ("PATCH", "/api/v1/topics/{name}"),
        ("DELETE", "/api/v1/topics/{name}"),
        ("POST", "/api/v1/topics/{name}/records"),
        ("GET", "/api/v1/topics/{name}/records"),
        ("GET", "/api/v1/groups"),
        ("GET", "/api/v1/groups/{group}"),
        ("DELETE", "/api/v1/groups/{group}"),
        ("POST", "/api/v1/groups/{group}/reset-offsets"),
        ("GET", "/api/v1/exchanges"),
        ("POST", "/api/v1/exchanges"),
        ("GET", "/api/v1/exchanges/{name}"),
        ("DELETE", "/api/v1/exchanges/{name}"),
        ("POST", "/api/v1/exchanges/{name}/publish"),
        ("GET", "/api/v1/bindings"),
        ("POST", "/api/v1/bindings"),
        ("DELETE", "/api/v1/bindings"),
    }
    assert expected <= operations, expected - operations


def test_every_error_a_named_resource_can_answer_is_documented(ferry_server):
    doc = requests.get(api(ferry_server, "/openapi.json")).json()
    for path, ops in doc["paths"].items():
        if "{" not in path:
            continue
        for method, op in ops.items():
            # A name that is not UTF-8 is a 400, a name of nothing a 404.
            assert {"400", "404"} <= set(op["responses"]), (method, path)
            error = op["responses"]["404"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorAnswer"}


def test_unknown_paths_and_bad_names_answer_in_the_error_shape(ferry_server):
    r = requests.get(api(ferry_server, "/nothing-here"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    for path in ["/queues/%FF", "/topics/%FF", "/groups/%FF", "/exchanges/%FF"]:
        r = requests.get(api(ferry_server, path))
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "invalid_path"


def test_a_body_over_the_request_limit_is_413_in_the_error_shape(ferry_server):
    requests.post(api(ferry_server, "/queues"), json={"name": "common-big-body"})
    body = b'{"body": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    r = requests.post(
        api(ferry_server, "/queues/common-big-body/messages"),
        data=body,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
