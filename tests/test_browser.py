"""A real Chromium drives the console: log in, declare, watch the timeline live."""

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from django.conf import settings

from tests.servers import database_url

pytestmark = [pytest.mark.slow, pytest.mark.browser]
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    if not Path(settings.CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required in CI but {settings.CHROMIUM} is missing")
        warnings.warn(f"SKIPPING BROWSER TESTS: no Chromium at {settings.CHROMIUM} "
                      "(apt-get install chromium, or set ATALAIA_CHROMIUM)", stacklevel=1)
        pytest.skip(f"no Chromium at {settings.CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs its own event loop; Django must not mistake
    # this thread for async code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=settings.CHROMIUM, headless=True,
                                     args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def log_in(page, base, username):
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/incidents/")


def test_declare_and_follow_the_timeline_live(browser, live_server, transactional_db, demo):
    base = live_server.url
    first = browser.new_context().new_page()
    log_in(first, base, "commander")
    first.goto(base + "/incidents/new/")
    first.fill("#id_title", "Login broken for everyone")
    first.select_option("#id_services", ["auth"])
    first.click("main form button[type=submit]")
    first.wait_for_url(re.compile(r".*/incidents/\d+/$"))
    incident_url = first.url

    # Level, its reason and the impact with the dependency paths are shown.
    assert first.inner_text("#level") == "Critical incident"
    assert "rule 2" in first.inner_text("#level-reason")
    impact = first.inner_text("#impact")
    assert "checkout → payments → auth" in impact
    assert "Login and accounts" in impact

    second = browser.new_context().new_page()
    log_in(second, base, "responder")
    second.goto(incident_url)
    second.wait_for_selector("#live-dot.on", timeout=5000)

    # An action written in the first browser appears in the second without reload.
    first.select_option("select[name=kind]", "action")
    first.fill("#entry-form textarea[name=text]", "Restarted auth-1 <b>not bold</b>")
    first.click("#entry-form button[type=submit]")
    entry = second.wait_for_selector("#timeline li.kind-action", timeout=1500)
    assert "Restarted auth-1 <b>not bold</b>" in entry.inner_text()  # escaped, shown as text

    # An entry written by another process (the CLI) arrives too.
    incident_id = incident_url.rstrip("/").split("/")[-1]
    env = {**os.environ, "ATALAIA_DATABASE_URL": database_url()}
    subprocess.run([sys.executable, "-m", "atalaia", "incident", "note", incident_id,
                    "Written from the command line", "--as", "responder"],
                   env=env, check=True, capture_output=True, timeout=60)
    second.wait_for_selector("#timeline li:has-text('Written from the command line')",
                             timeout=1500)


def test_a_page_fires_on_declaration_and_is_acknowledged_from_the_mail_catcher(
        browser, live_server, transactional_db, demo, personas, settings):
    """What a newcomer sees in the demo: declare, the page's e-mail lands in the
    mail catcher, its link opens a confirmation page, and the button acknowledges."""
    from atalaia.notify.contacts import add_verified
    from atalaia.notify.mailcatcher import Server
    from atalaia.notify.outbox import send_due
    from atalaia.oncall.models import Page

    catcher = Server(0)
    catcher.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", catcher.port
    settings.SITE_URL, settings.MAILCATCHER_PORT = live_server.url, catcher.port
    add_verified(personas["responder"], "email", "responder@demo.atalaia.test", "work")
    base = live_server.url
    try:
        page = browser.new_context().new_page()
        log_in(page, base, "commander")
        page.goto(base + "/incidents/new/")
        page.fill("#id_title", "Payments failing")
        page.select_option("#id_services", ["payments"])
        page.click("main form button[type=submit]")
        page.wait_for_url(re.compile(r".*/incidents/\d+/$"))
        incident_url = page.url
        assert "responder" in page.inner_text("#pages")
        assert send_due() >= 1  # the worker's turn

        page.goto(base + "/mailcatcher/")
        card = page.locator(".card", has_text="responder@demo.atalaia.test").first
        card.locator("a[href*='/ack/']").first.click()
        page.wait_for_selector("#ack-button")
        mine = Page.objects.filter(user__username="responder")  # Technical's and Support's
        assert {p.status for p in mine} == {"triggered"}
        page.click("#ack-button")
        page.wait_for_selector("#ack-done")
        assert {(p.status, p.acknowledged_via) for p in mine.all()} == {("acknowledged", "link")}

        page.goto(incident_url)
        row = page.inner_text("#pages")
        assert "Acknowledged" in row and "(link)" in row
        assert "responder acknowledged (link)" in page.inner_text("#timeline")
    finally:
        catcher.stop()


def test_a_visitor_subscribes_confirms_and_follows_the_crisis(
        browser, live_server, transactional_db, demo, personas, settings, mail):
    """The public side in a real browser: subscribe, confirm from the e-mail, read the
    tracking page in Portuguese, switch to English; the banner script shows the crisis
    on another site's page."""
    import re as regex
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from atalaia.comms.actions import publish_update
    from atalaia.comms.models import Subscriber
    from atalaia.incidents.actions import declare_incident
    from atalaia.notify.outbox import send_due

    settings.SITE_URL = live_server.url
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    publish_update(incident, personas["communicator"], "identified",
                   "Card payments fail for some customers.",
                   "Pagamentos com cartão falham para alguns clientes.",
                   components={"payments": "major_outage"})
    visitor = browser.new_context(locale="pt-BR").new_page()
    visitor.goto(live_server.url + "/status/subscribe/")
    visitor.fill("input[name=address]", "visitor@example.test")
    visitor.click("#subscribe-button")
    visitor.wait_for_load_state()
    assert send_due() >= 1
    (confirmation,) = [m for m in mail.parsed() if m["To"] == "visitor@example.test"]
    link = regex.search(r"https?://\S+/status/subscribe/confirm/\S+/",
                        confirmation.get_payload(decode=True).decode()).group(0)
    visitor.goto(link)
    assert Subscriber.objects.get().confirmed_at is None  # opening the link confirms nothing
    visitor.click("#confirm-button")
    visitor.wait_for_selector("#confirm-done")
    assert Subscriber.objects.get().confirmed_at is not None

    visitor.goto(live_server.url + f"/status/incidents/{incident.pk}")
    assert "Pagamentos com cartão falham" in visitor.inner_text("#tracking")
    visitor.click("#lang-switch")
    visitor.wait_for_url(regex.compile(r".*lang=en$"))
    assert "Card payments fail" in visitor.inner_text("#tracking")

    page_html = (f'<!doctype html><html><body><p>Our shop</p><script src="'
                 f'{live_server.url}/status/banner.js" async></script></body></html>').encode()

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args):
            pass

    shop = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    try:
        visitor.goto(f"http://127.0.0.1:{shop.server_port}/")
        banner = visitor.wait_for_selector("#atalaia-banner", timeout=5000)
        assert "Payments failing" in banner.inner_text()
        assert banner.get_attribute("href").endswith(f"/status/incidents/{incident.pk}"
                                                      "?lang=pt-br")
    finally:
        shop.shutdown()
