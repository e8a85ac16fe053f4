"""Confidential incidents are seen only by their participants and by admins,
on every page, API route and feed: all of them go through these two functions."""

from django.db.models import Exists, OuterRef, QuerySet

from atalaia.accounts.models import AccountRole
from atalaia.incidents.models import Incident


def visible_incidents(user) -> QuerySet[Incident]:
    incidents = Incident.objects.all()
    if not user.is_authenticated:
        return incidents.none()
    if user.role == AccountRole.ADMIN:
        return incidents
    through = Incident.participants.through
    participates = through.objects.filter(incident_id=OuterRef("pk"), user_id=user.pk)
    return incidents.filter(confidential=False) | incidents.filter(Exists(participates))


def can_see(user, incident: Incident) -> bool:
    if not incident.confidential:
        return user.is_authenticated
    return user.is_authenticated and (
        user.role == AccountRole.ADMIN
        or incident.participants.filter(pk=user.pk).exists())
