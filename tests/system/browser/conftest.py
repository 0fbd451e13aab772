"""Playwright fixtures: one Debian Chromium for the whole session, a fresh context per test.

Chromium comes from Debian (/usr/bin/chromium), never from a Playwright download. When it is
missing the tests fail (they never skip): CI must run them.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are still
# plain synchronous code, so Django's async-safety guard would refuse them without this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
OUTPUT_DIR = Path(__file__).resolve().parents[3] / "test-output"
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1}
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""
# Answers can take a while the first time (the models load once per process).
ANSWER_TIMEOUT_MS = 60_000


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; run `make browser` (apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def output_dir():
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR


class Visit:
    """One browser context on the live server, recording every request the page makes."""

    def __init__(self, browser, live_server, options):
        from playwright.sync_api import expect

        expect.set_options(timeout=10_000)
        self.base = live_server.url
        self.context = browser.new_context(**options)
        self.context.set_default_timeout(ANSWER_TIMEOUT_MS)
        self.page = self.context.new_page()
        self.requests = []
        self.console_errors = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        self.page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        # Content-Security-Policy (issue 15): Chromium reports what the policy blocks on the console, and the
        # page's securitypolicyviolation event is echoed there too; visit_factory asserts there was none.
        self.csp_violations = []
        self.page.on("console", self._note_csp_violation)
        self.context.add_init_script(CSP_LISTENER)

    def _note_csp_violation(self, msg):
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.csp_violations.append(f"{self.page.url}: {msg.text}")

    def open(self):
        self.page.goto(self.base + "/")
        self.page.wait_for_selector("#app[data-ready='true']")
        return self.page

    def foreign_requests(self):
        """Requests to anything other than the live server (data: URLs never leave the page)."""
        ours = urlsplit(self.base).netloc
        return [url for url in self.requests if not url.startswith("data:") and urlsplit(url).netloc != ours]

    def close(self):
        self.context.close()


@pytest.fixture
def visit_factory(browser, live_server, transactional_db):
    from django.core.cache import cache

    # Other test modules share the client IP 127.0.0.1 and so the anonymous predict rate limit.
    cache.clear()
    visits = []

    def make(options=DESKTOP):
        visit = Visit(browser, live_server, options)
        visits.append(visit)
        return visit

    yield make
    violations = [v for visit in visits for v in visit.csp_violations]
    for visit in visits:
        visit.close()
    assert violations == [], "Content-Security-Policy violations in the browser"


@pytest.fixture
def desktop(visit_factory):
    return visit_factory(DESKTOP)


@pytest.fixture
def phone(visit_factory):
    return visit_factory(PHONE)
