"""The demo's mail catcher: a real SMTP server whose messages the console shows."""

import smtplib
from email.message import EmailMessage

from atalaia.notify.mailcatcher import Server
from atalaia.notify.models import CaughtMail
from atalaia.notify.outbox import enqueue, send_due


def test_caught_mail_is_kept_and_shown(transactional_db, clients, settings):
    server = Server(port=0)
    server.start()
    try:
        message = EmailMessage()
        message["From"], message["To"] = "atalaia@localhost", "ana@demo.atalaia.test"
        message["Subject"] = "Code <123456>"
        message.set_content("Your code is 123456. https://atalaia.example/ack/1")
        with smtplib.SMTP("127.0.0.1", server.port) as smtp:
            smtp.send_message(message)
        # And through the outbox, as the demo does it.
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        enqueue("email", "bia@demo.atalaia.test", "Bia", "Page: checkout", "Acknowledge",
                idempotency_key="demo-1")
        assert send_due() == 1
    finally:
        server.stop()
    first, second = CaughtMail.objects.order_by("pk")
    assert first.recipients == "ana@demo.atalaia.test" and first.subject == "Code <123456>"
    assert first.body.startswith("Your code is 123456.")
    assert second.subject == "Page: checkout"
    page = clients["communicator"].get("/mailcatcher/").content.decode()
    assert "Code &lt;123456&gt;" in page and 'href="https://atalaia.example/ack/1"' in page
    assert clients["viewer"].get("/mailcatcher/").status_code == 403


def test_a_confidential_incidents_mail_is_shown_only_to_those_on_it(transactional_db, demo,
                                                                     personas, clients,
                                                                     settings):
    from atalaia.incidents.actions import declare_incident
    from atalaia.notify.contacts import add_verified

    add_verified(personas["commander"], "email", "commander@example.test", "work")
    # A localized failure: the demo plan pages the technical team (the commander among them).
    incident = declare_incident(personas["admin"], "Quokka vault breach", ["intranet"],
                                confidential=True)
    server = Server(port=0)
    server.start()
    try:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        assert send_due() >= 1
    finally:
        server.stop()
    caught = CaughtMail.objects.get(subject__contains="Quokka vault breach")
    assert caught.delivery_key == incident.deliveries.get().idempotency_key
    for reader in ("admin", "commander"):  # the commander was paged: now on the incident
        for path in ("/mailcatcher/", "/deliveries/"):
            assert "Quokka vault breach" in clients[reader].get(path).content.decode()
    for path in ("/mailcatcher/", "/deliveries/"):
        page = clients["communicator"].get(path)
        assert page.status_code == 200 and "Quokka vault breach" not in page.content.decode()
