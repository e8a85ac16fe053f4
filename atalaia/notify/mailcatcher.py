"""The demo's mail catcher: a local SMTP server whose messages go to the database.

`make run` starts it with everything else and points Atalaia's e-mail at it, so
that a newcomer sees verification codes and pages arrive (on /mailcatcher/)
without configuring a mail server. Not for production: it accepts any message
from anyone who can reach its port, which is why it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from django.db import close_old_connections

from atalaia.notify.models import CaughtMail

MAX_BODY = 100_000  # characters kept of a message's text


class Catcher:
    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.to_thread(store, envelope.mail_from, list(envelope.rcpt_tos),
                                envelope.content)
        return "250 OK"


def store(sender: str, recipients: list[str], raw: bytes) -> CaughtMail:
    close_old_connections()
    mail = caught(sender, recipients, raw)
    mail.save()
    return mail


def caught(sender: str, recipients: list[str], raw: bytes) -> CaughtMail:
    """The message as the console shows it. The Message-ID of one Atalaia sent carries
    its delivery's idempotency key (outbox._send_email): kept, so that the console shows
    the message only to readers who may see the delivery's incident."""
    message = message_from_bytes(raw, policy=policy.default)
    part = message.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    message_id = str(message.get("Message-ID", "")).strip().removeprefix("<")
    return CaughtMail(
        sender=sender[:300], recipients=", ".join(recipients),
        subject=str(message.get("Subject", ""))[:300], body=body[:MAX_BODY],
        delivery_key=message_id.rpartition("@")[0][:200])


class Server(Controller):
    """aiosmtpd on 127.0.0.1, with the catcher's handler unless given another (the
    tests' mail servers are this too); port 0 lets the kernel pick the port."""

    def __init__(self, port: int, handler: object | None = None, **kwargs):
        super().__init__(handler or Catcher(), hostname="127.0.0.1", port=port, **kwargs)

    def _trigger_server(self):
        # With port 0 its readiness probe needs the port the kernel picked.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def serve(port: int) -> None:
    """Run until SIGTERM or SIGINT."""
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.set())
    server = Server(port)
    server.start()
    try:
        stopping.wait()
    finally:
        server.stop()
