"""Contact methods: a code sent through a real mail server and a real HTTP receiver
proves each one reaches its owner; the people page shows who cannot be paged."""

import datetime
import re

import pytest
import time_machine

from atalaia.notify import contacts
from atalaia.notify.models import ContactMethod, Delivery
from atalaia.notify.outbox import send_due
from atalaia.notify.tests.test_outbox import Receiver


def code_in(text: str) -> str:
    return re.search(r"code is (\d{6})", text).group(1)


def test_an_email_method_is_verified_with_the_code_it_received(personas, clients, mail):
    response = clients["responder"].post("/contact/", {
        "channel": "email", "target": "responder@example.test", "label": "work"})
    assert response.status_code == 302
    method = ContactMethod.objects.get(user=personas["responder"])
    assert method.verified_at is None and method.hint == "r…@example.test"
    assert "responder@example.test" not in method.target  # encrypted at rest
    send_due()
    (message,) = mail.parsed()
    assert message["To"] == "responder@example.test"
    code = code_in(message.get_payload(decode=True).decode())
    page = clients["responder"].get("/contact/").content.decode()
    assert "responder@example.test" not in page and "r…@example.test" in page
    clients["responder"].post(f"/contact/{method.pk}/verify/", {"code": code})
    method.refresh_from_db()
    assert method.verified_at is not None


def test_an_apprise_method_gets_its_code_through_the_url(personas):
    receiver = Receiver()
    try:
        method = contacts.add_method(personas["communicator"], "apprise",
                                     f"json://127.0.0.1:{receiver.port}/me", "")
        send_due()
    finally:
        receiver.server.shutdown()
    (body,) = receiver.bodies
    contacts.verify(method, code_in(body["message"]))
    method.refresh_from_db()
    assert method.verified_at is not None and method.label == "json://127.0.0.1…"


def test_wrong_codes_are_counted_and_run_out(personas):
    method = contacts.add_method(personas["viewer"], "email", "v@example.test", "home")
    for left in (4, 3, 2, 1):
        tries = "try" if left == 1 else "tries"
        with pytest.raises(contacts.ContactError, match=f"{left} {tries} left"):
            contacts.verify(method, "000000")
    with pytest.raises(contacts.ContactError, match="send a new one"):
        contacts.verify(method, "000000")
    with pytest.raises(contacts.ContactError, match="no code to check"):
        contacts.verify(method, "000000")
    contacts.send_code(method)
    body = Delivery.objects.get(idempotency_key=f"verify-{method.pk}-2").body
    contacts.verify(method, code_in(body))
    assert ContactMethod.objects.get().verified_at is not None


def test_a_code_expires(personas):
    start = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        method = contacts.add_method(personas["viewer"], "email", "v@example.test", "home")
    code = code_in(Delivery.objects.get().body)
    with time_machine.travel(start + datetime.timedelta(minutes=31), tick=False), \
            pytest.raises(contacts.ContactError, match="expired"):
        contacts.verify(method, code)


@pytest.mark.parametrize(("channel", "target", "message"), [
    ("email", "not an address", "target: not an e-mail address"),
    ("apprise", "nonsense://x", "target: not an Apprise URL"),
    ("fax", "123", "channel: e-mail or an Apprise URL"),
])
def test_bad_methods_are_refused_naming_the_field(personas, clients, channel, target, message):
    response = clients["viewer"].post("/contact/", {"channel": channel, "target": target},
                                      follow=True)
    assert message in response.content.decode()
    assert not ContactMethod.objects.exists() and not Delivery.objects.exists()


def test_nobody_touches_anyone_elses_methods(personas, clients):
    method = contacts.add_method(personas["viewer"], "email", "v@example.test", "home")
    clients["commander"].post(f"/contact/{method.pk}/delete/")
    assert ContactMethod.objects.filter(pk=method.pk).exists()


def test_the_people_page_shows_who_cannot_be_paged(personas, clients):
    method = contacts.add_method(personas["responder"], "email", "r@example.test", "work")
    ContactMethod.objects.filter(pk=method.pk).update(verified_at=datetime.datetime.now(
        datetime.UTC))
    contacts.add_method(personas["viewer"], "email", "v@example.test", "home")
    page = clients["commander"].get("/people/").content.decode()
    rows = {name: row for name, row in re.findall(r"<td>(\w+)</td>(.*?)</tr>", page, re.S)}
    assert "cannot be paged" not in rows["responder"]
    assert "cannot be paged" in rows["viewer"] and "1 in all" in rows["viewer"]
    assert clients["responder"].get("/people/").status_code == 403
