"""The public site's subscription pages (no login): sign up, confirm, manage, and the
one-click unsubscribe link. A link in a message only shows a page (mail scanners
open links); the button on that page, a POST, does what it says. Nothing here is
cached: the pages carry a CSRF token or one subscriber's details."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from atalaia.accounts import throttle
from atalaia.comms import language, public, subscriptions
from atalaia.comms.models import Subscriber, SubscriberKind
from atalaia.comms.subscriptions import SubscriptionError
from atalaia.incidents.models import Incident
from atalaia.lib.clientaddress import client_address
from atalaia.lib.crypto import decrypt


def _activate(request, preferred: str = "") -> str:
    """`?lang=` when given; else the subscriber's language for their own links,
    else the browser's."""
    if preferred in language.LANGUAGES and \
            request.GET.get("lang", "").lower() not in language.LANGUAGES:
        translation.activate(preferred)
        request.LANGUAGE_CODE = preferred
        return preferred
    return language.activate_for(request)


def _incident(request) -> Incident | None:
    raw = request.GET.get("incident", "")
    if not raw:
        return None
    found = public.published().filter(pk=int(raw) if raw.isdigit() else 0).first()
    if found is None:
        raise Http404("no such public incident")
    return found


@never_cache
def subscribe(request):
    """GET: the form. POST: sign up, then "check your inbox" (e-mail) or the
    webhook's secret and manage link (shown once)."""
    page_language = _activate(request)
    incident = _incident(request)
    values = {"kind": SubscriberKind.EMAIL.value, "address": "", "language": page_language,
              "components": set()}
    error, status, refusal = "", 200, None
    if request.method == "POST":
        values = {"kind": request.POST.get("kind", ""),
                  "address": request.POST.get("address", ""),
                  "language": request.POST.get("language", ""),
                  "components": set(request.POST.getlist("components"))}
        try:
            sub = subscriptions.subscribe(
                values["kind"], values["address"], values["language"],
                sorted(values["components"]), incident=incident,
                client=client_address(request.META) or None)
        except subscriptions.RateLimited as exc:
            error, status, refusal = str(exc), 429, exc.taken
        except SubscriptionError as exc:
            error, status = str(exc), 400
        else:
            return _signed_up(request, sub, values["address"])
    response = render(request, "comms/subscribe.html", {
        "values": values, "error": error, "incident": incident,
        "groups": [] if incident else public.groups(), "lang": page_language,
        "confirm_days": subscriptions.CONFIRM_DAYS}, status=status)
    return throttle.too_many(response, refusal) if refusal is not None else response


def _signed_up(request, sub: Subscriber, typed: str):
    context: dict = {"sub": sub, "address": typed.strip(), "lang": request.LANGUAGE_CODE,
                     "confirm_days": subscriptions.CONFIRM_DAYS}
    if sub.kind == SubscriberKind.WEBHOOK:
        context |= {"secret": decrypt(sub.secret),
                    "manage_url": subscriptions.manage_url(sub)}
    return render(request, "comms/subscribe_done.html", context)


def _from_token(request, token: str, purpose: str, template: str):
    """The subscriber of a link, or the page saying what is wrong with it (too many
    requests to links from this client or to this link: 429)."""
    taken = throttle.link_opened(request, token)
    if not taken:
        _activate(request)
        return None, throttle.too_many(render(request, template, {
            "problem": throttle.wait_text(taken)}), taken)
    try:
        return subscriptions.from_token(token, purpose), None
    except SubscriptionError as exc:
        _activate(request)
        return None, render(request, template, {"problem": str(exc)}, status=400)


@never_cache
def confirm(request, token: str):
    sub, problem = _from_token(request, token, "confirm", "comms/subscription_confirm.html")
    if sub is None:
        return problem
    _activate(request, sub.language)
    done = request.method == "POST" and subscriptions.confirm(sub)
    sub.refresh_from_db()
    return render(request, "comms/subscription_confirm.html", {
        "sub": sub, "scope": subscriptions.scope(sub), "done": done,
        "posted": request.method == "POST",
        "manage_url": subscriptions.manage_url(sub) if sub.confirmed_at else ""})


@never_cache
def manage(request, token: str):
    """GET: the subscriber's preferences. POST: save them (action=save),
    unsubscribe (action=unsubscribe), or a new webhook secret (action=rotate)."""
    sub, problem = _from_token(request, token, "manage", "comms/subscription_manage.html")
    if sub is None:
        return problem
    notice, error, secret, status = "", "", "", 200
    if request.method == "POST":
        action = request.POST.get("action", "save")
        try:
            notice, secret = _manage_action(request, sub, action)
        except SubscriptionError as exc:
            error, status = str(exc), 400
        sub = Subscriber.objects.prefetch_related("components").select_related(
            "incident").get(pk=sub.pk)
    _activate(request, sub.language)
    return render(request, "comms/subscription_manage.html", {
        "sub": sub, "scope": subscriptions.scope(sub), "notice": notice, "error": error,
        "secret": secret, "manage_url": subscriptions.manage_url(sub),
        "chosen": {s.slug for s in sub.components.all()},
        "groups": [] if sub.incident_id else public.groups()}, status=status)


def _manage_action(request, sub: Subscriber, action: str) -> tuple[str, str]:
    if action == "unsubscribe":
        subscriptions.unsubscribe(sub)
        return "unsubscribed", ""
    if action == "rotate" and sub.kind == SubscriberKind.WEBHOOK:
        return "rotated", subscriptions.rotate_secret(sub)
    subscriptions.update_preferences(sub, request.POST.getlist("components"),
                                     request.POST.get("language", ""))
    return "saved", ""


@csrf_exempt  # RFC 8058: the mail provider POSTs "List-Unsubscribe=One-Click", no token
@never_cache
def unsubscribe(request, token: str):
    """The one-click link of List-Unsubscribe: GET shows a button, POST unsubscribes."""
    sub, problem = _from_token(request, token, "unsubscribe", "comms/unsubscribe.html")
    if sub is None:
        return problem
    _activate(request, sub.language)
    done = request.method == "POST" and subscriptions.unsubscribe(sub)
    return render(request, "comms/unsubscribe.html", {
        "sub": sub, "scope": subscriptions.scope(sub), "done": done,
        "posted": request.method == "POST"})
