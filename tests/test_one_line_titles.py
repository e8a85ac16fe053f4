"""A line break in a title must not stop paging (issue 12, defect 2): the title keeps
its first line, the rest goes to the summary, and every subject and header of an
e-mail is one line, whatever text it was made from."""

import subprocess

import pytest
from django.test import Client

from atalaia.incidents.models import Incident
from atalaia.intake.grouping import group_signals
from atalaia.intake.models import Signal
from atalaia.intake.tests.test_alertmanager import alertmanager, wait_for  # noqa: F401
from atalaia.notify.contacts import add_verified
from atalaia.notify.models import Delivery, DeliveryStatus
from atalaia.notify.outbox import enqueue, send_due
from conftest import api

DESCRIPTION = "Seller portal returns 503.\nLB health checks failing."


def reachable(personas) -> None:
    for name in ("commander", "responder", "communicator"):
        add_verified(personas[name], "email", f"{name}@example.test", "work")


def sent_pages(mail, incident: Incident) -> list:
    """Send what is due; every page e-mail of the incident must have gone out."""
    send_due()
    pages = Delivery.objects.filter(incident=incident, purpose="page")
    assert pages.exists()
    assert {(d.status, d.last_error) for d in pages} == {(DeliveryStatus.SENT, "")}
    messages = mail.parsed()
    assert len(messages) == pages.count()
    return messages


def assert_one_line_subjects(mail, messages, title: str) -> None:
    for message in messages:
        assert message["Subject"].endswith(f": {title}")
    for raw in mail.messages:  # no header folded over a line break of the title
        subject = next(line for line in raw.split(b"\r\n") if line.startswith(b"Subject:"))
        assert subject.decode().endswith(f": {title}")


@pytest.mark.slow
def test_a_multi_line_alertmanager_description_pages_everyone(alertmanager, personas,  # noqa: F811
                                                              mail):
    reachable(personas)
    subprocess.run(["amtool", "alert", "add", "alertname=SellerPortalDown",
                    "service=checkout", "severity=critical",
                    f"--annotation=description={DESCRIPTION}",
                    f"--alertmanager.url={alertmanager}"],
                   check=True, capture_output=True, timeout=30)
    wait_for(lambda: Signal.objects.filter(service__slug="checkout").exists(), "the alert")
    assert Signal.objects.get().summary == DESCRIPTION  # as Alertmanager sent it
    group_signals()
    incident = Incident.objects.get()
    assert incident.auto_declared
    assert incident.title == "Seller portal returns 503."
    assert incident.summary.startswith("LB health checks failing.")
    assert_one_line_subjects(mail, sent_pages(mail, incident), "Seller portal returns 503.")


def test_a_title_with_a_line_break_declared_through_the_api(demo, personas, tokens, mail):
    reachable(personas)
    response = api(Client(), "POST", "/incidents", tokens["commander"],
                   {"title": "a\r\nb", "services": ["payments"], "summary": "seen at 10:02"})
    assert response.status_code == 201, response.content
    assert response.json()["title"] == "a"
    incident = Incident.objects.get()
    assert (incident.title, incident.summary) == ("a", "b\n\nseen at 10:02")
    declared = incident.entries.get(kind="declared")
    assert (declared.body["title"], declared.body["summary"]) == ("a", "b\n\nseen at 10:02")
    assert_one_line_subjects(mail, sent_pages(mail, incident), "a")


@pytest.mark.parametrize("title", ["\r\n", " \u2028 ", "\t\x0b"])
def test_a_title_with_nothing_but_breaks_is_refused(demo, personas, tokens, title):
    response = api(Client(), "POST", "/incidents", tokens["commander"],
                   {"title": title, "services": ["payments"]})
    assert response.status_code in (400, 422), response.content
    assert "title" in response.content.decode()
    assert not Incident.objects.exists()


def test_every_subject_and_header_of_an_e_mail_is_made_one_line(db, mail):
    """Whatever text a subject or header was made from (an old row, an update's title),
    the e-mail goes out, with that text on one line."""
    enqueue("email", "ops@example.test", "ops", "Down\r\nBcc: all@example.test\u2028now\x07",
            "body", "one-line-1", headers={"X-Note": "a\nb\x85c"})
    send_due()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    (message,) = mail.parsed()
    assert message["Subject"] == "Down Bcc: all@example.test now"
    assert message["X-Note"] == "a b c"
    assert message["Bcc"] is None
