"""Helpers of the HTTP suites: reading `/metrics` with Prometheus's own exposition parser."""

import time
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families


def scrape(server, openmetrics=False):
    """The metrics page of `server` parsed: {sample name: [(labels, value)]} and the content type."""
    request = urllib.request.Request(server.http_url + "/metrics")
    if openmetrics:
        request.add_header("Accept", "application/openmetrics-text; version=1.0.0")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
        content_type = response.headers["Content-Type"]
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    samples = {}
    for family in parse(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples, content_type


def value(samples, name, **labels):
    """The value of the one sample `name` whose labels include `labels`; None when absent."""
    found = [v for (l, v) in samples.get(name, []) if all(l.get(k) == str(x) for k, x in labels.items())]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


def wait_for_metric(server, name, predicate, timeout_s=15, **labels):
    """Scrapes until the sample `name` with `labels` satisfies `predicate`; returns its value."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        samples, _ = scrape(server)
        last = value(samples, name, **labels)
        if last is not None and predicate(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{name}{labels} never satisfied the condition; last value {last}")
