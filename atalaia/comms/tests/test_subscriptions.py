"""Subscriptions to the public status site, through the pages a visitor uses, a real
SMTP server and a real HTTP receiver: double opt-in, signed links whose GET does
nothing and whose button does, RFC 8058 one-click unsubscribe, who hears about
what, sign-up limits, signed webhooks, CSV import, and escaping."""

import datetime
import hashlib
import hmac
import io
import json
import re
import time
from email.header import decode_header, make_header
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client

from atalaia.catalog.models import Service
from atalaia.comms import actions, subscriptions
from atalaia.comms.models import Broadcast, ComponentState, Subscriber
from atalaia.incidents.actions import declare_incident
from atalaia.notify.models import Delivery, DeliveryStatus
from atalaia.notify.outbox import enqueue, prepare, send_due
from tests.servers import Receiver

SUBSCRIBE = "/status/subscribe/"
T0 = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)


def at(moment: datetime.datetime):
    return time_machine.travel(moment, tick=False)


def signup(client: Client, address: str, query: str = "", **fields):
    headers = {name: fields.pop(name) for name in list(fields) if name.startswith("HTTP_")}
    data = {"kind": "email", "address": address, "language": "en", **fields}
    return client.post(SUBSCRIBE + query, data, **headers)


def path_of(url: str) -> str:
    return urlsplit(url).path


def links(text: str) -> list[str]:
    return re.findall(r"https?://\S+/", text)


def text_of(message) -> str:
    return message.get_payload(decode=True).decode()


def not_confirmations(mail) -> list:
    return [m for m in mail.parsed()
            if not str(make_header(decode_header(m["Subject"]))).startswith(
                ("Confirm your subscription", "Confirme sua assinatura"))]


def link_for(url: str, purpose: str) -> Subscriber:
    return subscriptions.from_token(path_of(url).rstrip("/").rsplit("/", 1)[1], purpose)


def csrf_post(client: Client, path: str, data: dict | None = None):
    client.get(path)
    return client.post(path, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value,
                              **(data or {})})


def confirmed(address: str, language: str = "en", components=(), incident=None,
              kind: str = "email") -> Subscriber:
    """A subscriber that went through the sign-up and the confirmation."""
    sub = subscriptions.subscribe(kind, address, language, list(components), incident=incident)
    subscriptions.confirm(sub)
    sub.refresh_from_db()
    return sub


def verify(secret: str, header: str, body: bytes, max_age: int = 86400) -> bool:
    """A receiver's check, as docs/subscriptions.md shows it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp, signature = fields.get("t", ""), fields.get("v1", "")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    if not timestamp.isdigit() or not hmac.compare_digest(expected, signature):
        return False
    return abs(time.time() - int(timestamp)) <= max_age


@pytest.fixture
def incident(demo, personas):
    found = declare_incident(personas["commander"], "Checkout is down", ["checkout"])
    actions.publish_update(found, personas["communicator"], "investigating",
                           "We are looking into failed payments.",
                           "Estamos investigando falhas nos pagamentos.",
                           components={"checkout": "major_outage"})
    return found


# -- double opt-in ---------------------------------------------------------------------

def test_email_signup_sends_only_the_confirmation_and_its_button_confirms_once(
        demo, mail, incident):
    browser = Client(enforce_csrf_checks=True)
    form = browser.get(SUBSCRIBE)
    assert form.status_code == 200 and b'value="checkout"' in form.content
    token = browser.cookies["csrftoken"].value
    done = browser.post(SUBSCRIBE, {"csrfmiddlewaretoken": token, "kind": "email",
                                    "address": " Ana@Example.COM ", "language": "en",
                                    "components": ["checkout", "api"]})
    assert done.status_code == 200 and b'id="check-inbox"' in done.content
    sub = Subscriber.objects.get()
    assert (sub.hint, sub.confirmed_at) == ("a…@example.com", None)
    assert subscriptions.address(sub) == "ana@example.com"
    assert sub.target != "ana@example.com"  # encrypted at rest

    actions.publish_update(incident, None, "identified", "Found it.", "Achamos.")
    assert not subscriptions.recipients("email", list(sub.components.all()), incident).exists()
    assert send_due() == 1
    (message,) = mail.parsed()
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "Confirm your subscription to Atalaia demo store status updates"
    body = text_of(message)
    assert "API" in body and "Checkout" in body and "7 days" in body
    assert "List-Unsubscribe" not in message  # not subscribed yet
    (link,) = links(body)

    shown = browser.get(path_of(link))
    assert shown.status_code == 200 and b'id="confirm-button"' in shown.content
    sub.refresh_from_db()
    assert sub.confirmed_at is None  # a mail scanner opening the link confirms nothing
    with at(T0):
        posted = browser.post(path_of(link), {"csrfmiddlewaretoken": token})
    assert posted.status_code == 200 and b'id="confirm-done"' in posted.content
    assert b'id="manage-link"' in posted.content
    again = browser.post(path_of(link), {"csrfmiddlewaretoken": token})
    assert b'id="confirm-already"' in again.content
    sub.refresh_from_db()
    assert sub.confirmed_at == T0
    assert Client(enforce_csrf_checks=True).post(path_of(link)).status_code == 403


def test_the_confirmation_speaks_the_subscribers_language_and_expires(demo, mail):
    with at(T0):
        signup(Client(), "bia@example.com", language="pt-br")
    send_due()
    (message,) = mail.parsed()
    assert message["Content-Language"] == "pt-br"
    (link,) = links(text_of(message))
    with at(T0 + datetime.timedelta(hours=1)):
        page = Client().get(path_of(link))
        assert b'<html lang="pt-br">' in page.content
        assert b'<html lang="en">' in Client().get(path_of(link) + "?lang=en").content
    with at(T0 + datetime.timedelta(days=subscriptions.CONFIRM_DAYS, minutes=1)):
        late = Client().post(path_of(link))
    assert late.status_code == 400 and b"expired" in late.content
    assert Subscriber.objects.get().confirmed_at is None


def test_confirming_again_replaces_the_earlier_subscription_of_the_address(demo):
    first = confirmed("cid@example.com", components=["api"])
    second = subscriptions.subscribe("email", "CID@example.com", "pt-br", [])
    first.refresh_from_db()
    assert first.unsubscribed_at is None  # until the new one is confirmed
    subscriptions.confirm(second)
    first.refresh_from_db()
    assert first.unsubscribed_at is not None
    assert list(subscriptions.recipients("email", [], None)) == [second]


# -- manage and unsubscribe ------------------------------------------------------------

def test_the_manage_link_shows_preferences_and_its_buttons_change_them(demo):
    sub = confirmed("dan@example.com", components=["api"])
    path = path_of(subscriptions.manage_url(sub))
    browser = Client(enforce_csrf_checks=True)
    shown = browser.get(path)
    assert shown.status_code == 200 and b'value="api" checked' in shown.content
    assert browser.post(path, {"action": "unsubscribe"}).status_code == 403  # no CSRF token
    sub.refresh_from_db()
    assert sub.unsubscribed_at is None

    saved = csrf_post(browser, path, {"action": "save", "language": "pt-br",
                                      "components": ["checkout", "web-br"]})
    assert saved.status_code == 200 and b'id="manage-saved"' in saved.content
    assert b'<html lang="pt-br">' in saved.content
    sub.refresh_from_db()
    assert sub.language == "pt-br"
    assert sorted(s.slug for s in sub.components.all()) == ["checkout", "web-br"]
    wrong = csrf_post(browser, path, {"action": "save", "language": "en",
                                      "components": ["nope"]})
    assert wrong.status_code == 400 and b"There is no component called nope" in wrong.content

    ended = csrf_post(browser, path, {"action": "unsubscribe"})
    assert b'id="manage-ended"' in ended.content
    sub.refresh_from_db()
    assert sub.unsubscribed_at is not None
    assert not subscriptions.recipients("email", [], None).exists()


def test_update_emails_carry_one_click_unsubscribe_that_works_without_csrf(demo, mail):
    sub = confirmed("eva@example.com")
    enqueue("email", subscriptions.address(sub), sub.hint, "Checkout is down", "Body.\n",
            "test-update-1", headers=subscriptions.email_headers(sub))
    send_due()
    (message,) = not_confirmations(mail)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(https?://\S+)>", re.sub(r"\s+", "", message["List-Unsubscribe"]))[1]
    assert link_for(url, "unsubscribe") == sub

    provider = Client(enforce_csrf_checks=True)
    shown = provider.get(path_of(url))
    assert shown.status_code == 200 and b'id="unsubscribe-button"' in shown.content
    sub.refresh_from_db()
    assert sub.unsubscribed_at is None  # opening the link does nothing
    posted = provider.post(path_of(url), "List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert posted.status_code == 200 and b'id="unsubscribe-done"' in posted.content
    sub.refresh_from_db()
    assert sub.unsubscribed_at is not None
    assert b'id="unsubscribe-already"' in provider.post(path_of(url)).content


def test_links_are_forgery_proof_and_die_with_the_secret(demo):
    sub = subscriptions.subscribe("webhook", "https://hooks.example.com/in", "en", [])
    manage = path_of(subscriptions.manage_url(sub))
    unsubscribe = path_of(subscriptions.unsubscribe_url(sub))
    assert Client().get(manage).status_code == 200
    assert Client().get(manage.replace("/status/subscription/", "/status/subscription/x"))\
        .status_code == 400
    # a link signed for one purpose does not work for another
    assert Client().get(unsubscribe.replace("/unsubscribe/", "/subscription/")).status_code == 400
    browser = Client()
    rotated = csrf_post(browser, manage, {"action": "rotate"})
    assert b'id="manage-rotated"' in rotated.content
    assert Client().get(manage).status_code == 400
    assert Client().post(unsubscribe).status_code == 400
    sub.refresh_from_db()
    assert sub.unsubscribed_at is None
    assert Client().get(path_of(subscriptions.manage_url(sub))).status_code == 200


def test_the_manage_page_stops_showing_an_incident_made_confidential(demo, incident):
    sub = confirmed("eve@example.com", incident=incident)
    path = path_of(subscriptions.manage_url(sub))
    assert incident.title in Client().get(path).content.decode()
    incident.confidential = True
    incident.save(update_fields=["confidential"])
    shown = Client().get(path).content.decode()
    assert incident.title not in shown
    assert f"#{incident.pk}" in shown


# -- who hears about what --------------------------------------------------------------

def test_recipients_by_component_and_incident_in_pk_batches(
        demo, incident, django_assert_num_queries):
    other = declare_incident(None, "Search is slow", ["catalog-api"])
    everything = confirmed("all@example.com")
    checkout = confirmed("checkout@example.com", components=["checkout", "payments"])
    confirmed("api@example.com", components=["api"])
    follows = confirmed("follow@example.com", incident=incident)
    confirmed("other@example.com", incident=other)
    subscriptions.subscribe("email", "pending@example.com", "en", [])
    subscriptions.unsubscribe(confirmed("gone@example.com"))
    hook = confirmed("https://hooks.example.com/a", kind="webhook")

    services = list(Service.objects.filter(slug__in=["checkout", "web-br"]))
    found = subscriptions.recipients("email", services, incident)
    assert list(found) == [everything, checkout, follows]
    with django_assert_num_queries(1):
        first = list(found.filter(pk__gt=0).order_by("pk")[:2])
    assert first == [everything, checkout]
    assert list(found.filter(pk__gt=first[-1].pk).order_by("pk")[:2]) == [follows]
    assert list(subscriptions.recipients("email", [], None)) == [everything]
    assert list(subscriptions.recipients("webhook", services, incident)) == [hook]


def test_following_one_incident_from_its_page(demo, incident, mail):
    browser = Client()
    form = browser.get(SUBSCRIBE, {"incident": incident.pk})
    assert b'id="subscribe-incident"' in form.content and b"Checkout is down" in form.content
    assert b'id="subscribe-components"' not in form.content
    signup(browser, "gil@example.com", query=f"?incident={incident.pk}")
    sub = Subscriber.objects.get()
    assert sub.incident == incident and not sub.components.exists()
    assert browser.get(SUBSCRIBE, {"incident": 99999}).status_code == 404
    send_due()
    assert f"incident #{incident.pk}, Checkout is down" in text_of(mail.parsed()[0])


def test_the_expander_queues_one_message_per_confirmed_subscriber(demo, incident, mail):
    from atalaia.comms.broadcasts import expand_due

    sub = confirmed("hal@example.com", language="pt-br", components=["checkout"])
    confirmed("ivy@example.com", components=["api"])  # another component: nothing
    Broadcast.objects.all().delete()
    actions.publish_update(incident, None, "identified", "Found it.", "Achamos a causa.")
    while expand_due(batch=10):
        pass
    send_due()
    (message,) = not_confirmations(mail)
    assert message["To"] == "hal@example.com"
    assert "Achamos a causa." in text_of(message)
    assert link_for(re.sub(r"\s+", "", message["List-Unsubscribe"]).strip("<>"),
                    "unsubscribe") == sub


# -- limits ----------------------------------------------------------------------------

def test_signups_are_limited_per_address(demo, settings):
    assert settings.STATUS_SIGNUPS_PER_ADDRESS_HOUR == 3
    with at(T0):
        for n in range(3):
            assert signup(Client(REMOTE_ADDR=f"203.0.113.{n}"), "joe@example.com").status_code \
                == 200
        refused = signup(Client(REMOTE_ADDR="203.0.113.9"), "JOE@example.com")
    # A bucket of 3 refilled over an hour: one more sign-up every 20 minutes.
    assert refused.status_code == 429 and refused["Retry-After"] == "1200"
    assert b"Too many requests. Try again in 20 minutes." in refused.content
    assert b'id="subscribe-error"' in refused.content  # the sign-up page, with its form
    with at(T0 + datetime.timedelta(minutes=19)):
        assert signup(Client(REMOTE_ADDR="203.0.113.9"), "joe@example.com").status_code == 429
    with at(T0 + datetime.timedelta(minutes=20)):
        assert signup(Client(REMOTE_ADDR="203.0.113.9"), "joe@example.com").status_code == 200
    assert Subscriber.objects.count() == 4


def test_signups_are_limited_per_ip_address(demo, settings):
    settings.STATUS_SIGNUPS_PER_IP_HOUR = 2
    crowd = Client(REMOTE_ADDR="198.51.100.7")
    with at(T0):
        assert signup(crowd, "k1@example.com").status_code == 200
        assert signup(crowd, "k2@example.com").status_code == 200
        refused = signup(crowd, "k3@example.com", query="?lang=pt-br")
        assert signup(Client(REMOTE_ADDR="198.51.100.8"), "k3@example.com").status_code == 200
    assert refused.status_code == 429 and refused["Retry-After"] == "1800"
    assert b"Tente de novo em 30 minutos." in refused.content
    with at(T0 + datetime.timedelta(minutes=30)):
        assert signup(crowd, "k4@example.com").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(demo, settings):
    settings.STATUS_SIGNUPS_PER_IP_HOUR = 1
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    with at(T0):
        assert signup(proxy, "p1@example.com",
                      HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 200
        assert signup(proxy, "p2@example.com",
                      HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
        # Another client behind the same proxy has a bucket of its own.
        assert signup(proxy, "p3@example.com",
                      HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200
        # From an address that is not a trusted proxy, the header decides nothing.
        stranger = Client(REMOTE_ADDR="203.0.113.5")
        assert signup(stranger, "p4@example.com",
                      HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 200
        assert signup(stranger, "p5@example.com",
                      HTTP_X_FORWARDED_FOR="198.51.100.10").status_code == 429


def test_bad_signups_say_what_is_wrong(demo):
    for fields, problem in [({"address": "not-an-address"}, b"That is not an e-mail address"),
                            ({"address": "l@example.com", "components": ["nope"]},
                             b"There is no component called nope"),
                            ({"address": "l@example.com", "language": "fr"},
                             b"The language is en or pt-br"),
                            ({"address": "l@example.com", "kind": "sms"},
                             b"Choose e-mail or webhook")]:
        answer = Client().post(SUBSCRIBE, {"kind": "email", "language": "en", **fields})
        assert answer.status_code == 400 and problem in answer.content, fields
    assert not Subscriber.objects.exists()


# -- webhooks --------------------------------------------------------------------------

def test_a_webhook_subscriber_verifies_the_signature_of_what_it_receives(demo, incident):
    receiver = Receiver()
    url = f"http://127.0.0.1:{receiver.port}/hook"
    try:
        page = Client().post(SUBSCRIBE, {"kind": "webhook", "address": url, "language": "pt-br",
                                         "components": ["checkout"]})
        assert page.status_code == 200
        secret = re.search(rb'id="webhook-secret">([0-9a-f]{64})<', page.content)[1].decode()
        assert b'id="manage-link"' in page.content
        sub = Subscriber.objects.get()
        assert sub.confirmed_at is not None  # webhooks are confirmed at once
        again = Client().post(SUBSCRIBE, {"kind": "webhook", "address": url, "language": "en"})
        assert again.status_code == 400 and b"already subscribed" in again.content

        broadcast = Broadcast.objects.get(audience="webhook")
        body = subscriptions.webhook_body_for(broadcast, sub)
        Delivery.objects.create(**prepare(
            "webhook", subscriptions.address(sub), sub.hint, "update", body, "test-hook-1",
            headers=subscriptions.webhook_headers(sub, body.encode())))
        assert send_due() == 1
    finally:
        receiver.server.shutdown()
    assert Delivery.objects.get().status == DeliveryStatus.SENT
    (received,), (headers,) = receiver.bodies, receiver.headers
    raw = body.encode()
    assert received == json.loads(raw) and int(headers["Content-Length"]) == len(raw)
    assert verify(secret, headers["X-Atalaia-Signature"], raw)
    assert not verify(secret, headers["X-Atalaia-Signature"], raw.replace(b"major", b"minor"))
    assert not verify("0" * 64, headers["X-Atalaia-Signature"], raw)
    assert headers["X-Atalaia-Event"] == "incident.update"
    assert link_for(received["meta"]["unsubscribe"], "unsubscribe") == sub
    assert received["page"]["status_indicator"] in ("minor", "major", "critical")
    story = received["incident"]
    assert story["id"] == str(incident.pk) and story["status"] == "investigating"
    assert story["incident_updates"][0]["body"] == "Estamos investigando falhas nos pagamentos."
    assert story["incident_updates"][0]["affected_components"] == [
        {"code": "checkout", "name": "Checkout", "old_status": "operational",
         "new_status": "major_outage"}]


def test_a_component_update_webhook_has_statuspages_shape(demo):
    sub = subscriptions.subscribe("webhook", "https://hooks.example.com/c", "en", [])
    actions.set_component_status(Service.objects.get(slug="api"), "degraded_performance", None)
    state = ComponentState.objects.get(ended_at__isnull=True)
    body = subscriptions.webhook_body("component", subscriptions.component_payload(state), sub)
    data = json.loads(body)
    assert set(data) == {"meta", "page", "component_update", "component"}
    assert data["component_update"]["old_status"] == "operational"
    assert data["component_update"]["new_status"] == "degraded_performance"
    assert data["component"]["id"] == data["component_update"]["component_id"] == "api"
    headers = subscriptions.webhook_headers(sub, body.encode())
    assert headers["X-Atalaia-Event"] == "component.update"


def test_a_webhook_to_a_private_address_is_refused(demo, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://localhost/x"):
        answer = Client().post(SUBSCRIBE, {"kind": "webhook", "address": url, "language": "en"})
        assert answer.status_code == 400 and b"private or local address" in answer.content
    assert not Subscriber.objects.exists()


# -- CSV import ------------------------------------------------------------------------

CSV = """email,language,components
ana@example.com,pt-br,checkout;api
bob@example.com,,
not-an-address,en,
carl@example.com,fr,
dora@example.com,en,nope
ANA@example.com,en,
old@example.com,en,
"""


def test_csv_import_confirms_skips_duplicates_and_reports_bad_lines(demo, mail):
    subscriptions.unsubscribe(confirmed("old@example.com"))
    queued = Delivery.objects.count()
    seen = []
    result = subscriptions.import_csv(io.StringIO(CSV), "en", progress=seen.append, batch=2)
    assert (result.created, result.skipped) == (2, 2)
    assert [line for line, _problem in result.errors] == [4, 5, 6]
    assert "There is no component called nope" in result.errors[2][1]
    assert seen[-1] == 8 and seen == sorted(seen)
    ana = Subscriber.objects.get(digest=hashlib.sha256(b"ana@example.com").hexdigest())
    assert (ana.imported, ana.language, ana.confirmed_at is not None) == (True, "pt-br", True)
    assert sorted(s.slug for s in ana.components.all()) == ["api", "checkout"]
    assert Delivery.objects.count() == queued  # they opted in elsewhere: nothing is sent
    assert subscriptions.import_csv(io.StringIO(CSV), "en").created == 0


def test_the_import_command(demo, tmp_path, capsys):
    path = tmp_path / "subscribers.csv"
    path.write_text("eve@example.com\nfinn@example.com,pt-br,web-br\nbad\n")
    with pytest.raises(CommandError, match="1 bad rows"):
        call_command("subscribers_import", str(path), language="pt-br")
    out, err = capsys.readouterr()
    assert "imported 2, skipped 0" in out and f"{path}:3: That is not an e-mail address" in err
    assert sorted(Subscriber.objects.values_list("language", flat=True)) == ["pt-br", "pt-br"]


# -- escaping --------------------------------------------------------------------------

def test_markup_in_addresses_names_and_titles_is_shown_escaped(demo, personas, mail):
    Service.objects.create(slug="evil", name="<img src=x onerror=alert(1)>", is_component=True)
    form = Client().get(SUBSCRIBE)
    assert b"<img src=x" not in form.content and b"&lt;img src=x" in form.content

    address = '"<script>alert(1)</script>"@example.com'
    done = signup(Client(), address, components=["evil"])
    assert done.status_code == 200
    assert b"<script>alert(1)" not in done.content and b"&lt;script&gt;alert(1)" in done.content
    bad = Client().post(SUBSCRIBE, {"kind": "email", "language": "en",
                                    "address": "<b onmouseover=alert(1)>x"})
    assert bad.status_code == 400 and b"<b onmouseover" not in bad.content

    sub = Subscriber.objects.get()
    manage = Client().get(path_of(subscriptions.manage_url(sub)))
    assert b"<img src=x" not in manage.content and b"&lt;img src=x" in manage.content

    hidden = declare_incident(personas["commander"], "<script>alert(2)</script>", ["checkout"])
    actions.publish_update(hidden, None, "investigating", "x", "x")
    follow = Client().get(SUBSCRIBE, {"incident": hidden.pk})
    assert b"<script>alert(2)" not in follow.content and b"&lt;script&gt;alert(2)" in follow.content
