"""Contact-method codes are rate limited per account by the one rate limiter: codes
sent (each new method and each resend) and codes checked, across all of a person's
methods. A refusal is the contact page itself with 429 and Retry-After, then the
clock refills the bucket."""

import re
import time

import pytest
import time_machine

from atalaia.notify import contacts
from atalaia.notify.models import ContactMethod, Delivery

SENT, CHECKED = contacts.CODES_SENT, contacts.CODES_CHECKED


@pytest.fixture
def clock(personas):
    # Now, frozen: the personas' sessions stay valid.
    with time_machine.travel(time.time(), tick=False) as traveller:
        yield traveller


def add(client, n: int):
    return client.post("/contact/", {"channel": "email", "target": f"me{n}@example.test",
                                     "label": f"m{n}"})


def code_of(method: ContactMethod) -> str:
    body = Delivery.objects.filter(idempotency_key__startswith=f"verify-{method.pk}-") \
        .order_by("-pk").first().body
    return re.search(r"code is (\d{6})", body).group(1)


def test_codes_sent_per_account_wait_for_the_clock(personas, clients, clock):
    me = clients["responder"]
    for n in range(int(SENT.capacity)):
        assert add(me, n).status_code == 302
    refused = add(me, 99)
    # 10 an hour: one more every 6 minutes.
    assert refused.status_code == 429 and refused["Retry-After"] == "360"
    text = refused.content.decode()
    assert "Too many requests. Try again in 6 minutes." in text and 'name="target"' in text
    assert not ContactMethod.objects.filter(label="m99").exists()
    method = ContactMethod.objects.filter(user=personas["responder"]).first()
    assert me.post(f"/contact/{method.pk}/resend/").status_code == 429  # the same bucket
    # Someone else's bucket is their own.
    assert add(clients["viewer"], 1).status_code == 302
    clock.shift(359)
    assert add(me, 99).status_code == 429
    clock.shift(1)
    assert add(me, 99).status_code == 302
    assert ContactMethod.objects.filter(label="m99").exists()


def test_codes_checked_per_account_wait_for_the_clock(personas, clients, clock):
    me = clients["responder"]
    for n in range(3):
        add(me, n)
    first, second, third = ContactMethod.objects.filter(user=personas["responder"]) \
        .order_by("pk")
    for method in (first, second):  # each code runs out after 5 tries; the bucket holds 10
        for _ in range(contacts.CODE_ATTEMPTS):
            assert me.post(f"/contact/{method.pk}/verify/", {"code": "000000"}) \
                .status_code == 302
    # Deleting and adding a method again gives no fresh guesses: even the right code
    # waits (10 in 15 minutes: one more every 90 s).
    refused = me.post(f"/contact/{third.pk}/verify/", {"code": code_of(third)},
                      HTTP_ACCEPT_LANGUAGE="pt-br")
    assert refused.status_code == 429 and refused["Retry-After"] == "90"
    assert "Muitas solicitações. Tente de novo em 90 segundos." in refused.content.decode()
    third.refresh_from_db()
    assert third.verified_at is None and third.code_attempts == 0
    clock.shift(90)
    assert me.post(f"/contact/{third.pk}/verify/", {"code": code_of(third)}).status_code == 302
    third.refresh_from_db()
    assert third.verified_at is not None
