"""Fixtures of the console's browser tests: headless Chromium from the distribution (never a
browser Playwright downloads), a fresh page per test that fails the test on a script error,
and clients of the REST API and SQS to make messages flow while the page watches."""

import os
import uuid

import pytest
from console_helpers import Rest

CHROMIUM = os.environ.get("FERRY_CHROMIUM", "/usr/bin/chromium")


# Module scope: Playwright's sync API keeps an event loop running in this thread until it
# stops, and suites run after this one call asyncio.run().
@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); the console's browser tests need it")
    from playwright.sync_api import expect, sync_playwright

    # The pages poll every second; leave room for a slow machine.
    expect.set_options(timeout=10_000)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, ferry_server):
    """A page of a new browser context whose base URL is the console; a script error in it
    (an uncaught exception) fails the test."""
    context = browser.new_context(base_url=ferry_server.http_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"script errors in the console: {errors}"


@pytest.fixture(scope="session")
def rest(ferry_server):
    return Rest(ferry_server.http_url)


@pytest.fixture(scope="session")
def sqs(ferry_server):
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=ferry_server.sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def unique():
    """A name no other test uses: `unique("orders")` → `orders-1a2b3c4d`."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"
