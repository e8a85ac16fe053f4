from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from atalaia.accounts.permissions import can, require
from atalaia.lib.uploads import uploaded_text
from atalaia.lib.yamldoc import DocumentError, LimitError
from atalaia.plans.actions import activate_plan, diff_plans, import_plan
from atalaia.plans.models import PlanVersion


@login_required
def plan(request, number: int | None = None):
    require(request.user, "view")
    versions = PlanVersion.objects.all()
    if number is None:
        version = versions.filter(is_active=True).first() or versions.first()
    else:
        version = get_object_or_404(PlanVersion, number=number)
    return render(request, "plans/plan.html", {
        "version": version, "doc": version.plan if version else None, "versions": versions,
        "can_edit": can(request.user, "plan.edit")})


@login_required
def diff(request):
    require(request.user, "view")
    old = get_object_or_404(PlanVersion, number=request.GET.get("a") or 0)
    new = get_object_or_404(PlanVersion, number=request.GET.get("b") or 0)
    return render(request, "plans/diff.html", {"old": old, "new": new,
                                               "lines": diff_plans(old, new)})


@login_required
def upload(request):
    require(request.user, "plan.edit")
    problems: list[str] = []
    source, status = "", 200
    if request.method == "POST":
        try:
            source = uploaded_text(request)
            version = import_plan(source, request.user, activate=bool(request.POST.get("activate")),
                                  note=request.POST.get("note", ""))
        except DocumentError as exc:
            problems, status = exc.problems, 413 if isinstance(exc, LimitError) else 200
        else:
            messages.success(request, _("Plan version %(n)s imported.") % {"n": version.number})
            return redirect("plans:version", number=version.number)
    return render(request, "plans/upload.html", {"problems": problems, "source": source},
                  status=status)


@login_required
def activate(request, number: int):
    require(request.user, "plan.edit")
    if request.method == "POST":
        activate_plan(get_object_or_404(PlanVersion, number=number), request.user)
        messages.success(request, _("Plan version %(n)s is now active.") % {"n": number})
    return redirect("plans:version", number=number)
