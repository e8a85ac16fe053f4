"""One crisis from declaration to a closed review, in a real Chromium, as the people
of the demo would live it: the commander, a responder (member of the Support team)
and the communicator, each in their own browser context, plus an anonymous visitor
reading the public tracking page.

Every persona logs in through the form (`tests.test_browser.log_in`): only admin
accounts (or users flagged `totp_required`, or ATALAIA_REQUIRE_2FA) must pass TOTP,
so these three need no second factor and no injected session cookies."""

import re

import pytest

from tests.test_browser import browser, log_in  # noqa: F401 - `browser` is a fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REVIEW_CHECKLIST = ["Measure the timings against the plan's targets",
                    "Collect feedback from the team and from users",
                    "Propose the next version of the crisis plan"]


def submit(page, locator):
    """Click a button that posts a form, and wait for the page the server sends back
    (most console forms redirect back to the page they are on)."""
    with page.expect_navigation():
        locator.click()


def flash(page) -> str:
    """The messages the last request left. The console's health warnings ("the worker
    is not running": no worker runs here) share the same `ul.messages` list style, so
    look for the words, not for a list of errors."""
    return "\n".join(page.locator("ul.messages li").all_inner_texts())


def move_stage(page, stage: str, label: str):
    submit_form = page.locator("form[action$='/do/stage/']")
    submit_form.locator("select[name=stage]").select_option(stage)
    submit(page, submit_form.locator("button[type=submit]"))
    assert page.inner_text("#stage") == label


def set_public_status(page, status: str, message: str = ""):
    form = page.locator("form[action$='/do/status/']")
    form.locator("select[name=status]").select_option(status)
    form.locator("input[name=message]").fill(message)
    submit(page, form.locator("button[type=submit]"))


def test_a_crisis_from_declaration_to_a_closed_review(browser, live_server,  # noqa: F811
                                                       transactional_db, demo, personas):
    from atalaia.incidents.models import Incident
    from atalaia.review.models import Review

    base = live_server.url
    commander = browser.new_context().new_page()
    responder = browser.new_context().new_page()
    communicator = browser.new_context().new_page()
    visitor = browser.new_context(locale="en-US").new_page()
    for page, username in ((commander, "commander"), (responder, "responder"),
                           (communicator, "communicator")):
        log_in(page, base, username)

    # 1. The commander declares; the room opens and the paging panel lists the pages.
    commander.goto(base + "/incidents/new/")
    commander.fill("#id_title", "Card payments failing")
    commander.select_option("#id_services", ["payments"])
    submit(commander, commander.locator("main form button[type=submit]"))
    commander.wait_for_url(re.compile(r".*/incidents/\d+/$"))
    room = commander.url
    incident_id = int(room.rstrip("/").split("/")[-1])
    tracking = f"{base}/status/incidents/{incident_id}"
    assert commander.inner_text("#stage") == "Assessment"
    pages = commander.inner_text("#pages")
    assert "responder" in pages and "Triggered" in pages

    # 2. The communicator writes an update from the room and publishes it; the public
    # tracking page shows it.
    communicator.goto(room)
    communicator.click("#communication a:has-text('Write an update')")
    communicator.wait_for_url(f"{base}/comms/incidents/{incident_id}/update/")
    communicator.select_option("#compose select[name=status]", "identified")
    communicator.fill("#compose textarea[name=body_en]",
                      "Card payments fail for some customers; we found why.")
    assert communicator.input_value("#compose textarea[name=body_pt]") == ""
    communicator.click("#publish")
    communicator.wait_for_url(room)
    assert "Published on every channel." in flash(communicator)
    assert communicator.inner_text("#status") == "Identified"
    assert "we found why" in communicator.inner_text("#communication")

    visitor.goto(tracking + "?lang=en")
    assert "Card payments fail for some customers; we found why." in visitor.inner_text(
        "#tracking")
    assert visitor.inner_text("#current-status") == "Identified"

    # 3. The commander moves to response, then resolution: the verification gate blocks
    # resolving, and trying to say "resolved" is refused with the reason.
    commander.goto(room)
    move_stage(commander, "response", "Response")
    assert commander.locator("#gate").count() == 0  # only shown in the resolution stage
    move_stage(commander, "resolution", "Resolution")
    gate = commander.inner_text("#gate")
    assert "blocks resolving" in gate
    assert "Customers can log in and pay again" in gate
    assert "to be ticked by a member of Support" in gate
    assert "not signed off" in gate
    # The commander is not in Support: the room offers no Tick button for that check.
    assert commander.locator("#gate form[action$='/do/gate_tick/']").count() == 0
    set_public_status(commander, "resolved", "Fixed, we think.")
    refusal = flash(commander)
    assert "the verification gate blocks resolving" in refusal
    assert commander.inner_text("#status") == "Identified"

    # 4. The responder (Support team) ticks the check; the commander signs off and
    # resolves; the closing update is on the tracking page.
    responder.goto(room)
    assert "blocks resolving" in responder.inner_text("#gate")
    submit(responder, responder.locator("#gate form[action$='/do/gate_tick/'] button"))
    assert "ticked by responder" in responder.inner_text("#gate")
    assert "this check is ticked by" not in flash(responder)

    commander.goto(room)
    assert "ticked by responder" in commander.inner_text("#gate")
    submit(commander, commander.locator("#gate form[action$='/do/gate_signoff/'] button"))
    gate = commander.inner_text("#gate")
    assert "signed off by commander" in gate and "passes" in gate
    set_public_status(commander, "resolved", "Card payments work again for everyone.")
    assert "blocks resolving" not in flash(commander)
    assert commander.inner_text("#status") == "Resolved"
    assert "The communication track is closed." in commander.inner_text("#communication")

    visitor.goto(tracking + "?lang=en")
    assert visitor.inner_text("#current-status") == "Resolved"
    closing = visitor.locator("#tracking .update").first.inner_text()
    assert "Resolved" in closing and "Card payments work again for everyone." in closing
    assert "we found why" in visitor.inner_text("#tracking")  # the earlier update stays

    # 5. Review: the commander moves the stage; the review page is open with timings.
    move_stage(commander, "review", "Review")
    commander.goto(f"{base}/review/{incident_id}/")
    commander.wait_for_selector("#review-state")
    assert commander.locator("#timings tr[id^=timing-]").count() > 0
    blocking = commander.inner_text("#blocking")
    assert "review checklist are not ticked" in blocking
    assert "no one from the team has given feedback" in blocking

    # The responder (paged, so a participant) gives feedback.
    responder.goto(f"{base}/review/{incident_id}/")
    responder.click("#give-feedback")
    responder.wait_for_url(f"{base}/review/{incident_id}/feedback/")
    responder.fill("#feedback-form textarea[name=worked]", "The page reached me at once.")
    responder.fill("#feedback-form textarea[name=did_not]", "Nobody knew who checks payments.")
    responder.check("#feedback-form input[name=plan_rating][value='4']")
    responder.check("#feedback-form input[name=tools_rating][value='5']")
    responder.click("#feedback-form button")
    responder.wait_for_url(f"{base}/review/{incident_id}/")
    assert "Thank you: your feedback is saved." in flash(responder)
    team = responder.inner_text("#team-feedback")
    assert "The page reached me at once." in team
    assert responder.inner_text("#plan-average") == "4.0"

    # The commander ticks the review checklist in the room.
    commander.goto(room)
    for text in REVIEW_CHECKLIST:
        item = commander.locator("form.check", has_text=text)
        submit(commander, item.locator("button"))
        assert commander.locator("form.check", has_text=text).locator(
            "span.done").count() == 1

    # Nothing blocks any more; completing the review closes the incident.
    commander.goto(f"{base}/review/{incident_id}/")
    assert commander.locator("#blocking").count() == 0
    for text in REVIEW_CHECKLIST:
        assert commander.locator("#review-checklist .check", has_text=text).locator(
            "span.done").count() == 1
    submit(commander, commander.locator("#complete-button"))
    assert "The review is complete and the incident is closed." in flash(commander)
    assert commander.inner_text("#stage") == "Closed"
    assert "by commander" in commander.inner_text("#completed")
    assert commander.locator("#complete").count() == 0
    commander.goto(room)
    assert commander.inner_text("#stage") == "Closed"

    incident = Incident.objects.get(pk=incident_id)
    assert (incident.stage, incident.public_status) == ("closed", "resolved")
    assert Review.objects.get(incident=incident).completed_by.username == "commander"
