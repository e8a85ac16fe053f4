"""Single sign-on in a real Chromium, through the real provider's own login page."""

import pytest

from atalaia.accounts.models import AccountRole, User
from tests.oidc_provider import OIDCProvider
from tests.test_browser import browser  # noqa: F401 - the real Chromium fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def provider(live_server, settings):
    idp = OIDCProvider(live_server.url)
    settings.SITE_URL = live_server.url
    idp.settings_for(settings, OIDC_ROLE_MAP={"atalaia-admins": "admin"},
                     OIDC_DEFAULT_ROLE="viewer", SSO_ONLY=True, BREAK_GLASS_ADMIN="root")
    yield idp
    idp.stop()


def test_sign_in_through_the_provider_lands_with_the_mapped_role(
        browser, live_server, transactional_db, provider):  # noqa: F811
    base = live_server.url
    page = browser.new_context().new_page()
    page.goto(base + "/accounts/users/")
    assert page.locator("input[name=password]").count() == 0  # SSO only
    page.click("#sso-login")

    # The provider's own login form.
    page.wait_for_url(provider.url + "/interaction/**")
    page.fill("input[name=login]", "carol")
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")

    # Back where the person was going, as an admin (the provider's atalaia-admins
    # group), with no TOTP step: the provider did the strong authentication.
    page.wait_for_url(base + "/accounts/users/")
    assert "carol" in page.inner_text("header .who")
    carol = User.objects.get(username="carol")
    assert carol.role == AccountRole.ADMIN and carol.sso_issuer == provider.url

    # Logging out ends the provider's session too, and comes back to the login page.
    page.click("header form button.link")
    page.wait_for_url(provider.url + "/session/end**")
    page.click("button[value=yes]")
    page.wait_for_url(base + "/accounts/login/")
    page.goto(base + "/accounts/sso/login/")
    page.wait_for_url(provider.url + "/interaction/**")  # asked to sign in again
