from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts import twofactor
from atalaia.accounts.actions import audit, create_token, create_user, revoke_token, set_role
from atalaia.accounts.models import AccountRole, ApiToken, AuditEvent, User
from atalaia.accounts.permissions import require


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return fallback


@login_required
def verify_2fa(request):
    if not request.user.totp_confirmed:
        return redirect("accounts:2fa_enrol")
    error = ""
    if request.method == "POST":
        if twofactor.verify(request.user, request.POST.get("code", "")):
            request.session.cycle_key()
            request.session[twofactor.SESSION_KEY] = True
            return redirect(_safe_next(request, reverse("incidents:list")))
        error = _("That code is not valid. Check your authenticator app's clock.")
    return render(request, "accounts/2fa_verify.html",
                  {"error": error, "next": request.GET.get("next", "")})


@login_required
def enrol_2fa(request):
    user = request.user
    if user.totp_confirmed:
        # Never show an enrolled secret again; re-enrolment needs an admin reset.
        return redirect("accounts:2fa_verify" if not request.session.get(twofactor.SESSION_KEY)
                        else "incidents:list")
    error = ""
    if request.method == "POST" and user.totp_secret:
        if twofactor.verify(user, request.POST.get("code", "")):
            user.totp_confirmed = True
            user.save(update_fields=["totp_confirmed"])
            request.session[twofactor.SESSION_KEY] = True
            audit(user, "user.2fa_enrol", "user", user.username)
            messages.success(request, _("Two-factor authentication is on."))
            return redirect("incidents:list")
        error = _("That code is not valid. Try the next one your app shows.")
    if not user.totp_secret or request.method == "GET":
        twofactor.start_enrolment(user)
    uri = twofactor.provisioning_uri(user)
    return render(request, "accounts/2fa_enrol.html", {
        "qr": twofactor.qr_svg(uri), "secret": twofactor.secret_of(user), "error": error})


@login_required
def tokens(request):
    require(request.user, "view")
    plain = None
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:100] or "token"
        _token, plain = create_token(request.user, name)
    return render(request, "accounts/tokens.html", {
        "tokens": request.user.api_tokens.all(), "plain": plain})


@login_required
@require_POST
def revoke(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id)
    if token.user_id != request.user.pk:
        require(request.user, "users.manage")
    revoke_token(token, request.user)
    messages.success(request, _("Token revoked."))
    return redirect("accounts:tokens")


@require_POST
def set_language(request):
    language = request.POST.get("language", "")
    response = redirect(_safe_next(request, "/"))
    if language and check_for_language(language):
        from django.conf import settings

        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax",
                            max_age=365 * 24 * 3600)
        if request.user.is_authenticated:
            request.user.language = language
            request.user.save(update_fields=["language"])
    return response


class UserForm(forms.Form):
    role = forms.ChoiceField(choices=AccountRole.choices)
    totp_required = forms.BooleanField(required=False)


class NewUserForm(forms.Form):
    username = forms.RegexField(r"^[\w.@+-]{1,150}$", max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=AccountRole.choices)
    password = forms.CharField(widget=forms.PasswordInput, min_length=12)

    def clean_username(self):
        name = self.cleaned_data["username"]
        if User.objects.filter(username=name).exists():
            raise forms.ValidationError(_("That username is taken."))
        return name


@login_required
def users(request):
    require(request.user, "users.manage")
    new_user = NewUserForm(request.POST if "create" in request.POST else None)
    if new_user.is_bound:
        if new_user.is_valid():
            data = new_user.cleaned_data
            create_user(data["username"], data["password"], data["role"], request.user,
                        email=data["email"])
            messages.success(request, _("User %(name)s created.") % {"name": data["username"]})
            return redirect("accounts:users")
    elif request.method == "POST":
        user = get_object_or_404(User, pk=request.POST.get("user"))
        form = UserForm(request.POST)
        if form.is_valid():
            if form.cleaned_data["role"] != user.role:
                set_role(user, form.cleaned_data["role"], request.user)
            if form.cleaned_data["totp_required"] != user.totp_required:
                user.totp_required = form.cleaned_data["totp_required"]
                user.save(update_fields=["totp_required"])
                audit(request.user, "user.2fa_required", "user", user.username,
                      {"totp_required": user.totp_required})
            messages.success(request, _("Saved."))
        return redirect("accounts:users")
    return render(request, "accounts/users.html", {
        "users": User.objects.order_by("username"), "roles": AccountRole.choices,
        "new_user": new_user})


@login_required
def audit_log(request):
    require(request.user, "audit.view")
    return render(request, "accounts/audit.html",
                  {"events": AuditEvent.objects.select_related("actor")[:500]})
