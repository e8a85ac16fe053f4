"""Confidential incidents are seen only by their participants and by admins,
on every page, API route and feed: all of them go through these functions.

Anything that belongs to an incident (a delivery, a page, a signal, a run, caught
mail …) carries its incident's words, so lists of such rows are filtered by
`of_visible_incidents`: a confidential incident's rows are left out for readers
who are not on it, rather than shown redacted, as PagerDuty's and incident.io's
private incidents are absent, not blacked out, for everyone else: a redacted row
would still tell that a secret incident exists, when, and whom it paged."""

from django.db.models import Exists, OuterRef, Q, QuerySet

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


def of_visible_incidents(user, rows: QuerySet, field: str = "incident") -> QuerySet:
    """The rows that belong to no incident or to one the user may see; `field` is
    the path from a row to its incident ("incident", "update__incident" …)."""
    if user.is_authenticated and user.role == AccountRole.ADMIN:
        return rows
    return rows.filter(Q(**{f"{field}__isnull": True})
                       | Q(**{f"{field}__in": visible_incidents(user).values("pk")}))
