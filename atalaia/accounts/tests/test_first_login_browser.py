"""First sign-in of someone who must enrol TOTP, in a real Chromium (favicon and all)."""

import threading

import pyotp
import pytest
from django.core.signals import request_started

from atalaia.accounts.actions import create_user
from tests.test_browser import browser  # noqa: F401 - the real Chromium fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def icon_requested():
    """Set when the live server receives the browser's own request for the page icon."""
    seen = threading.Event()

    def on_request(sender, environ, **kwargs):
        if "favicon" in environ.get("PATH_INFO", ""):
            seen.set()

    request_started.connect(on_request, weak=False)
    yield seen
    request_started.disconnect(on_request)


def sign_in_without_a_page(context, base: str, username: str, password: str) -> None:
    """Post the login form through the browser's own cookie jar, so that the first page
    the browser renders (and the first icon it asks for) comes after the password."""
    context.request.get(base + "/accounts/login/")
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = context.request.post(base + "/accounts/login/", max_redirects=0, form={
        "username": username, "password": password, "csrfmiddlewaretoken": csrf})
    assert response.status == 302, response.text()


def test_a_new_admin_enrols_totp_at_first_sign_in(browser, live_server,  # noqa: F811
                                                  transactional_db, icon_requested):
    create_user("ines", "a long first password", "admin")
    base = live_server.url
    context = browser.new_context()
    sign_in_without_a_page(context, base, "ines", "a long first password")
    page = context.new_page()
    page.goto(base + "/incidents/")
    assert page.url == base + "/accounts/2fa/enrol/"
    # The browser asks for the icon once the page is shown; a person takes longer
    # than that to scan the code.
    assert icon_requested.wait(timeout=15), "the browser never asked for an icon"
    assert page.locator("main svg").count() == 1  # the QR code

    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    # The recovery codes are shown once, on the answer to the code.
    assert page.locator("#recovery-codes li").count() == 10, page.inner_text("main")
    with page.expect_navigation():
        page.click("#recovery-continue")
    assert page.url == base + "/incidents/", page.inner_text("main")
    assert "ines" in page.inner_text("header .who")
