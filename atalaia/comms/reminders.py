"""Reminders to the people who talk to users: an update is late by the plan's
cadence, or a scheduled maintenance starts soon. Worker steps; each reminder has
an idempotency key, so a step that runs twice reminds once."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaia.accounts.models import AccountRole, User
from atalaia.comms.actions import next_update_due
from atalaia.comms.models import Maintenance, MaintenanceStatus
from atalaia.incidents.models import Incident, IncidentRole, Stage
from atalaia.lib.crypto import decrypt
from atalaia.notify import outbox
from atalaia.notify.models import ContactMethod, Delivery


def _speakers(incident: Incident | None) -> list[User]:
    """The incident's communications lead, or else everyone with the communicator role."""
    if incident is not None:
        lead = incident.roles.filter(role=IncidentRole.COMMUNICATIONS_LEAD).select_related(
            "user").first()
        if lead is not None:
            return [lead.user]
    return list(User.objects.filter(role=AccountRole.COMMUNICATOR, is_active=True))


def _tell(people: list[User], key: str, subject_body, incident: Incident | None) -> int:
    queued = 0
    for person in people:
        with translation.override(person.language or settings.LANGUAGE_CODE):
            subject, body = subject_body()
        for method in ContactMethod.objects.filter(user=person, verified_at__isnull=False):
            idempotency_key = f"{key}-u{person.pk}-m{method.pk}"
            if Delivery.objects.filter(idempotency_key=idempotency_key).exists():
                continue  # reminded already
            outbox.enqueue(method.channel, decrypt(method.target), person.username, subject,
                           body, idempotency_key, purpose="reminder", incident=incident)
            queued += 1
    return queued


def late_updates(now: datetime | None = None) -> int:
    """Remind the communications lead of every incident whose update is overdue,
    once per due time."""
    now = now or timezone.now()
    queued = 0
    for incident in Incident.objects.filter(communication_open=True).exclude(
            stage__in=[Stage.REVIEW, Stage.CLOSED]).select_related("plan_version"):
        due = next_update_due(incident)
        if due is None or due > now:
            continue

        def text(incident=incident, due=due):
            return (_("Update overdue: #%(id)s %(title)s") % {"id": incident.pk,
                                                                "title": incident.title},
                    _("Users were due to hear from us at %(due)s (the plan's cadence). "
                      "Write an update: %(url)s") % {
                        "due": timezone.localtime(due).strftime("%Y-%m-%d %H:%M %Z"),
                        "url": f"{settings.SITE_URL.rstrip('/')}/comms/incidents/"
                               f"{incident.pk}/update/"})
        with transaction.atomic():
            queued += _tell(_speakers(incident), f"late-update-{incident.pk}-"
                            f"{int(due.timestamp())}", text, incident)
    return queued


def maintenance_soon(now: datetime | None = None) -> int:
    """Remind the communicators before a scheduled maintenance starts."""
    now = now or timezone.now()
    ahead = now + timedelta(minutes=settings.MAINTENANCE_REMINDER_MINUTES)
    queued = 0
    for maintenance in Maintenance.objects.filter(status=MaintenanceStatus.SCHEDULED,
                                                  reminded_at__isnull=True,
                                                  scheduled_for__lte=ahead,
                                                  scheduled_for__gt=now):
        def text(m=maintenance):
            return (_("Maintenance soon: %(title)s") % {"title": m.title_en},
                    _("It starts at %(start)s. Subscribers will be told when it starts and "
                      "ends.") % {"start": timezone.localtime(m.scheduled_for).strftime(
                        "%Y-%m-%d %H:%M %Z")})
        with transaction.atomic():
            queued += _tell(_speakers(None), f"maintenance-soon-{maintenance.pk}", text, None)
            Maintenance.objects.filter(pk=maintenance.pk).update(reminded_at=now)
    return queued
