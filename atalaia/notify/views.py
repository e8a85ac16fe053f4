"""The deliveries page: every outgoing message, its state and, for a failure, why."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts.actions import audit
from atalaia.accounts.permissions import can, require
from atalaia.notify import outbox
from atalaia.notify.models import Channel, Delivery, DeliveryStatus


@login_required
def deliveries(request):
    require(request.user, "deliveries.view")
    rows = Delivery.objects.select_related("incident").order_by("-created_at")
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
def retry(request, delivery_id: int):
    require(request.user, "deliveries.manage")
    delivery = get_object_or_404(Delivery, pk=delivery_id)
    if outbox.retry([delivery]):
        audit(request.user, "delivery.retry", "delivery", str(delivery))
        messages.success(request, _("Queued again."))
    else:
        messages.error(request, _("Only failed deliveries can be sent again."))
    return redirect("deliveries")
