"""Deliveries (every outgoing message, its state and, for a failure, why) and
people's contact methods.

Deliveries and caught mail carry their incident's words, and notify sits below
incidents: the URL conf hands the views that list them `readable(user, rows, field)`,
the incidents' visibility rule (incidents/visibility.of_visible_incidents), which
leaves out the rows of a confidential incident the reader is not on."""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts import throttle
from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.accounts.permissions import can, require
from atalaia.notify import contacts, outbox
from atalaia.notify.models import CaughtMail, Channel, ContactMethod, Delivery, DeliveryStatus

Readable = Callable[..., QuerySet]


@login_required
def deliveries(request, readable: Readable):
    require(request.user, "deliveries.view")
    rows = readable(request.user, Delivery.objects.select_related("incident")).order_by(
        "-created_at")
    status = request.GET.get("status", "")
    channel = request.GET.get("channel", "")
    if status in DeliveryStatus.values:
        rows = rows.filter(status=status)
    if channel in Channel.values:
        rows = rows.filter(channel=channel)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "notify/deliveries.html", {
        "page": page, "status": status, "channel": channel,
        "statuses": DeliveryStatus.choices, "channels": Channel.choices,
        "can_retry": can(request.user, "deliveries.manage")})


@login_required
@require_POST
def retry(request, delivery_id: int, readable: Readable):
    require(request.user, "deliveries.manage")
    delivery = get_object_or_404(readable(request.user, Delivery.objects), pk=delivery_id)
    if outbox.retry([delivery]):
        audit(request.user, "delivery.retry", "delivery", str(delivery))
        messages.success(request, _("Queued again."))
    else:
        messages.error(request, _("Only failed deliveries can be sent again."))
    return redirect("deliveries")


# -- contact methods: each person's own, and who can be reached ----------------------


@login_required
def contact(request):
    """A person's own contact methods: add one (a code is sent through it), verify it."""
    require(request.user, "view")
    if request.method == "POST":
        try:
            contacts.add_method(request.user, request.POST.get("channel", ""),
                                request.POST.get("target", ""), request.POST.get("label", ""))
        except contacts.TooMany as exc:
            return _too_many(request, exc)
        except contacts.ContactError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("A code was sent through it: type it in below."))
        return redirect("contact")
    return _contact_page(request)


def _contact_page(request, status: int = 200):
    return render(request, "notify/contact.html", {
        "methods": request.user.contact_methods.all(), "channels": Channel.choices},
        status=status)


def _too_many(request, exc: contacts.TooMany):
    """The contact page itself, saying how long to wait: 429, not a redirect, so that
    the refusal is visible to scripts too."""
    messages.error(request, str(exc))
    return throttle.too_many(_contact_page(request), exc.taken)


def _own_method(request, method_id: int) -> ContactMethod | None:
    """The person's own method; None (and a message) for anyone else's."""
    require(request.user, "view")
    method = ContactMethod.objects.filter(pk=method_id, user=request.user).first()
    if method is None:
        messages.error(request, _("You have no such contact method."))
    return method


@login_required
@require_POST
def contact_verify(request, method_id: int):
    method = _own_method(request, method_id)
    if method is None:
        return redirect("contact")
    try:
        contacts.verify(method, request.POST.get("code", ""))
    except contacts.TooMany as exc:
        return _too_many(request, exc)
    except contacts.ContactError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Verified: this method can be used for paging."))
    return redirect("contact")


@login_required
@require_POST
def contact_resend(request, method_id: int):
    method = _own_method(request, method_id)
    if method is None:
        return redirect("contact")
    try:
        with transaction.atomic():
            contacts.send_code(method)
    except contacts.TooMany as exc:
        return _too_many(request, exc)
    except contacts.ContactError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("A new code is on its way."))
    return redirect("contact")


@login_required
@require_POST
def contact_delete(request, method_id: int):
    method = _own_method(request, method_id)
    if method is None:
        return redirect("contact")
    audit(request.user, "contact.delete", "contact_method", str(method))
    method.delete()
    return redirect("contact")


@login_required
def people(request):
    """Everyone, and whether Atalaia can reach them: people with no verified contact
    method cannot be paged."""
    require(request.user, "people.view")
    users = User.objects.filter(is_active=True).annotate(
        verified=Count("contact_methods", filter=Q(contact_methods__verified_at__isnull=False)),
        methods=Count("contact_methods")).order_by("verified", "username")
    return render(request, "notify/people.html", {"users": users})


@login_required
def mailcatcher(request, readable: Readable):
    """What the demo's mail catcher received: verification codes and pages, readable
    without a mail server; mail of the deliveries the reader may not see left out."""
    require(request.user, "deliveries.view")
    hidden = Delivery.objects.exclude(pk__in=readable(request.user, Delivery.objects).values(
        "pk")).values("idempotency_key")
    return render(request, "notify/mailcatcher.html", {
        "mails": CaughtMail.objects.exclude(delivery_key__in=hidden)[:100],
        "port": settings.MAILCATCHER_PORT})
