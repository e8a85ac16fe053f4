"""The post-mortem in the console: read it, edit it, regenerate it, download it,
publish a public version on the tracking page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts.permissions import can, require
from atalaia.incidents.visibility import visible_incidents
from atalaia.review import postmortem
from atalaia.review.models import Review


def review_of(user, incident_id: int) -> Review:
    """The review of an incident the user may see; 404 for any other."""
    incidents = visible_incidents(user).filter(pk=incident_id)
    review = (Review.objects.select_related("incident", "incident__plan_version")
              .filter(incident__in=incidents).first())
    if review is None:
        raise Http404("no review of this incident (it opens once the incident is resolved)")
    return review


class DocumentForm(forms.Form):
    text = forms.CharField(required=False, strip=False, max_length=postmortem.MAX_LENGTH)
    action = forms.ChoiceField(choices=[("save", "save"), ("regenerate", "regenerate")])


class PublishForm(forms.Form):
    text = forms.CharField(max_length=postmortem.MAX_LENGTH)


def _page(request, review: Review, form: DocumentForm | None = None,
          publish_text: str | None = None, publish_error: str = "", status: int = 200):
    text = postmortem.document(review)
    return render(request, "review/postmortem.html", {
        "incident": review.incident, "review": review, "text": text,
        "rendered": postmortem.to_fragment(text),
        "public_text": publish_text if publish_text is not None
        else (review.public_document or text),
        "may_edit": can(request.user, "incident.respond"), "form": form,
        "publish_error": publish_error, "max_length": postmortem.MAX_LENGTH}, status=status)


@login_required
def page(request, incident_id: int):
    require(request.user, "view")
    review = review_of(request.user, incident_id)
    if request.method != "POST":
        return _page(request, review)
    require(request.user, "incident.respond")
    form = DocumentForm(request.POST)
    if not form.is_valid():
        return _page(request, review, form, status=400)
    if form.cleaned_data["action"] == "regenerate":
        postmortem.regenerate(review)
        messages.success(request, _("The post-mortem was generated again from the incident."))
    else:
        postmortem.save_document(review, form.cleaned_data["text"])
        messages.success(request, _("The post-mortem was saved."))
    return redirect("postmortem", incident_id=incident_id)


@login_required
@require_POST
def publish(request, incident_id: int):
    require(request.user, "incident.respond")
    review = review_of(request.user, incident_id)
    form = PublishForm(request.POST)
    text = request.POST.get("text", "")
    if not form.is_valid():
        return _page(request, review, publish_text=text, status=400,
                     publish_error=_("Write the text to publish (at most %(max)s characters).")
                     % {"max": postmortem.MAX_LENGTH})
    try:
        postmortem.publish(review, request.user, form.cleaned_data["text"])
    except postmortem.PostmortemError as exc:
        return _page(request, review, publish_text=text, publish_error=str(exc), status=400)
    messages.success(request, _("The post-mortem is on the public tracking page."))
    return redirect("postmortem", incident_id=incident_id)


def download_response(review: Review, fmt: str) -> HttpResponse:
    content, content_type, filename = postmortem.export(review, fmt)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def download(request, incident_id: int, fmt: str):
    require(request.user, "view")
    return download_response(review_of(request.user, incident_id), fmt)
