"""*Publish* sends what the preview showed (issue 12, defect 5), in a real Chromium:
a component added to the update stays in the form under the preview, and the update
that goes out (database and the subscriber's e-mail, at a real SMTP server) carries
both component changes, word for word as previewed."""

import pytest

from tests.test_browser import browser, log_in  # noqa: F401 - `browser` is a fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_publish_sends_what_the_preview_showed(browser, live_server,  # noqa: F811
                                                transactional_db, demo, personas, settings,
                                                mail):
    from atalaia.comms import broadcasts, subscriptions
    from atalaia.comms.models import Update
    from atalaia.incidents.actions import declare_incident
    from atalaia.notify.outbox import send_due

    settings.SITE_URL = live_server.url
    reader = subscriptions.subscribe("email", "reader@example.test", "en", [])
    subscriptions.confirm(reader)
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    page = browser.new_context(locale="en-US").new_page()
    log_in(page, live_server.url, "communicator")
    page.goto(f"{live_server.url}/comms/incidents/{incident.pk}/update/")

    form = page.locator("#compose")
    form.locator("select[name=status]").select_option("identified")
    form.locator("select[name=component-payments]").select_option("partial_outage")
    form.locator("select[name=add_component]").select_option("checkout")
    form.locator("select[name=add_component_status]").select_option("degraded_performance")
    with page.expect_navigation():
        form.locator("button[value=preview]").click()

    english = page.locator("#previews .card").filter(
        has=page.locator("h2", has_text="English"))
    subject = english.locator("p strong").first.inner_text()
    text = english.locator("pre").first.inner_text()
    assert "Affected: Checkout, Payments" in text
    # The form under the preview still holds both rows, as the user left them.
    assert form.locator("select[name=component-checkout]").count() == 1
    assert form.locator("select[name=component-checkout]").input_value() == (
        "degraded_performance")
    assert form.locator("select[name=component-payments]").input_value() == "partial_outage"

    with page.expect_navigation():
        page.click("#publish")
    assert page.url.endswith(f"/incidents/{incident.pk}/")
    assert "Published on every channel." in page.locator("ul.messages li").all_inner_texts()

    update = Update.objects.get()
    assert [(c["service"], c["status"]) for c in update.components] == [
        ("checkout", "degraded_performance"), ("payments", "partial_outage")]
    while broadcasts.expand_due() or send_due():
        pass
    (sent,) = [m for m in mail.parsed() if m["Subject"] == subject]
    assert sent["To"] == "reader@example.test"
    body = sent.get_payload(decode=True).decode().replace("\r\n", "\n")
    # What went out is the preview, then the subscriber's own manage link.
    assert body.startswith(text.rstrip("\n") + "\n")
    assert "Affected: Checkout, Payments" in body
