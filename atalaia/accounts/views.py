import logging

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from atalaia.accounts import signin, twofactor
from atalaia.accounts.actions import (
    AccountError,
    begin_totp_enrolment,
    confirm_totp,
    create_token,
    create_user,
    recovery_codes_left,
    regenerate_recovery_codes,
    reset_password,
    reset_two_factor,
    restart_totp_enrolment,
    revoke_token,
    set_active,
    set_role,
    set_totp_required,
    use_recovery_code,
)
from atalaia.accounts.models import AccountRole, ApiToken, AuditEvent, User
from atalaia.accounts.permissions import require
from atalaia.accounts.throttle import too_many
from atalaia.lib.crypto import CannotDecrypt

logger = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        refused = signin.check(request.POST.get("username", ""), request, signin.PASSWORD)
        if refused:
            # An unbound form: a bound one would check the password when shown.
            form = self.get_form_class()(request)
            return too_many(self.render_to_response(
                self.get_context_data(form=form, throttled=refused.message)), refused)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        signin.failed(form.data.get("username", ""), self.request, signin.PASSWORD)
        return super().form_invalid(form)

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.get_user()
        complete = not (user.totp_confirmed or user.needs_totp)
        signin.succeeded(user.username, self.request, signin.PASSWORD, complete=complete)
        if user.needs_totp:
            # The sign-in is the POST that starts an enrolment, so that the enrolment
            # page itself only shows the pending secret and never changes it.
            begin_totp_enrolment(user)
        return signin.remember_device(response, user.username) if complete else response


def safe_target(request, target: str, fallback: str) -> str:
    """`target` when it stays on this site (never an open redirect), else `fallback`."""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


def _safe_next(request, fallback: str) -> str:
    return safe_target(request, request.POST.get("next") or request.GET.get("next") or "",
                       fallback)


@login_required
def verify_2fa(request):
    user = request.user
    if not user.totp_confirmed:
        return redirect("accounts:2fa_enrol")
    error = ""
    if request.method == "POST":
        refused = signin.check(user.username, request, signin.TWO_FACTOR)
        if refused:
            return too_many(_verify_page(request, refused.message), refused)
        try:
            passed = _second_factor(request, user, request.POST.get("code", ""))
        except CannotDecrypt:
            logger.error("the TOTP secret of %s is under a key this instance does not have "
                         "(atalaia keys status)", user.username)
            return _verify_page(request, _(
                "Atalaia cannot read your two-factor secret: it was stored under a secret "
                "key this server no longer has. Sign in with one of your recovery codes, or "
                "ask an admin to reset your two-factor authentication."))
        if passed:
            signin.succeeded(user.username, request, signin.TWO_FACTOR, complete=True)
            request.session.cycle_key()
            request.session[twofactor.SESSION_KEY] = True
            return signin.remember_device(
                redirect(_safe_next(request, reverse("incidents:list"))), user.username)
        signin.failed(user.username, request, signin.TWO_FACTOR)
        error = _("That code is not valid, or was used already. Wait for the next one "
                  "your app shows.")
    return _verify_page(request, error)


def _verify_page(request, error: str):
    return render(request, "accounts/2fa_verify.html",
                  {"error": error, "next": request.POST.get("next") or request.GET.get("next", "")})


def _second_factor(request, user: User, code: str) -> bool:
    """An authenticator code, or one of the recovery codes (a lost phone)."""
    if not twofactor.looks_like_recovery_code(code):
        return twofactor.verify(user, code)
    if not use_recovery_code(user, code):
        return False
    left = recovery_codes_left(user)
    messages.warning(request, ngettext(
        "You signed in with a recovery code. %(left)d code is left: make new ones on "
        "the Sign-in security page.",
        "You signed in with a recovery code. %(left)d codes are left: make new ones on "
        "the Sign-in security page.", left) % {"left": left})
    return True


@login_required
def enrol_2fa(request):
    """Show the pending secret; a POST confirms it with a code, or starts again.

    A GET never changes anything: the browser fetches pages on its own (icons,
    prefetching, a reload), and a new secret on each would make the code on the
    person's phone stale before they type it."""
    user = request.user
    if user.totp_confirmed:
        # Never show an enrolled secret again; re-enrolment needs an admin reset.
        return redirect("accounts:2fa_verify" if not request.session.get(twofactor.SESSION_KEY)
                        else "incidents:list")
    error = ""
    if request.method == "POST":
        if "restart" in request.POST or not user.totp_secret:
            restart_totp_enrolment(user)
            return redirect("accounts:2fa_enrol")
        if twofactor.verify(user, request.POST.get("code", "")):
            codes = confirm_totp(user)
            request.session.cycle_key()
            request.session[twofactor.SESSION_KEY] = True
            messages.success(request, _("Two-factor authentication is on."))
            return signin.remember_device(_recovery_codes_page(request, codes), user.username)
        error = _("That code is not valid. Try the next one your app shows.")
    context = {"error": error, "pending": bool(user.totp_secret)}
    if user.totp_secret:
        context.update(qr=twofactor.qr_svg(twofactor.provisioning_uri(user)),
                       secret=twofactor.secret_of(user))
    response = render(request, "accounts/2fa_enrol.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _recovery_codes_page(request, codes: list[str]):
    """The codes, shown in the answer to the POST that made them and nowhere else."""
    response = render(request, "accounts/recovery_codes.html", {
        "codes": codes, "as_text": "\n".join(codes) + "\n"})
    response["Cache-Control"] = "no-store"
    return response


@login_required
def security(request):
    """The person's own sign-in: two-factor, and their recovery codes."""
    user = request.user
    if request.method == "POST":
        try:
            codes = regenerate_recovery_codes(user, user)
        except AccountError as exc:
            messages.error(request, str(exc))
            return redirect("accounts:security")
        return _recovery_codes_page(request, codes)
    return render(request, "accounts/security.html", {
        "codes_left": recovery_codes_left(user)})


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
        _save_settings(request, user, UserForm(request.POST))
        return redirect("accounts:users")
    return render(request, "accounts/users.html", {
        "users": User.objects.order_by("username"), "roles": AccountRole.choices,
        "new_user": new_user, "locked": signin.locked_users()})


def _save_settings(request, user: User, form: UserForm) -> None:
    if not form.is_valid():
        messages.error(request, _("Choose one of the account roles."))
        return
    try:
        if form.cleaned_data["role"] != user.role:
            set_role(user, form.cleaned_data["role"], request.user)
        if form.cleaned_data["totp_required"] != user.totp_required:
            set_totp_required(user, form.cleaned_data["totp_required"], request.user)
    except AccountError as exc:
        messages.error(request, str(exc))
        return
    messages.success(request, _("Saved."))


def _person_page(request, person: User, password: str = ""):
    response = render(request, "accounts/person.html", {
        "person": person, "roles": AccountRole.choices, "password": password,
        "teams": person.teams.order_by("name"), "lock": signin.lock_of(person),
        "events": AuditEvent.objects.filter(object_type="user",
                                            object_repr=person.username)[:20]})
    # A password shown once must not stay in a cache.
    response["Cache-Control"] = "no-store"
    return response


@login_required
def person(request, user_id: int):
    require(request.user, "users.manage")
    return _person_page(request, get_object_or_404(User, pk=user_id))


@login_required
@require_POST
def person_settings(request, user_id: int):
    require(request.user, "users.manage")
    person = get_object_or_404(User, pk=user_id)
    _save_settings(request, person, UserForm(request.POST))
    return redirect("accounts:person", user_id=person.pk)


@login_required
@require_POST
def person_password(request, user_id: int):
    require(request.user, "users.manage")
    person = get_object_or_404(User, pk=user_id)
    password = reset_password(person, request.user)
    return _person_page(request, person, password=password)


@login_required
@require_POST
def person_two_factor(request, user_id: int):
    require(request.user, "users.manage")
    person = get_object_or_404(User, pk=user_id)
    reset_two_factor(person, request.user)
    messages.success(request, _("Two-factor authentication of %(name)s was reset.")
                     % {"name": person.username})
    return redirect("accounts:person", user_id=person.pk)


@login_required
@require_POST
def person_unlock(request, user_id: int):
    require(request.user, "users.manage")
    person = get_object_or_404(User, pk=user_id)
    if signin.unlock(person, request.user):
        messages.success(request, _("%(name)s can sign in again.") % {"name": person.username})
    return redirect(_safe_next(request, reverse("accounts:person", args=[person.pk])))


@login_required
@require_POST
def person_active(request, user_id: int):
    require(request.user, "users.manage")
    person = get_object_or_404(User, pk=user_id)
    active = request.POST.get("active") == "1"
    try:
        set_active(person, active, request.user)
    except AccountError as exc:
        messages.error(request, str(exc))
    else:
        text = (_("%(name)s can sign in again.") if active
                else _("%(name)s can no longer sign in."))
        messages.success(request, text % {"name": person.username})
    return redirect("accounts:person", user_id=person.pk)


@login_required
def audit_log(request):
    require(request.user, "audit.view")
    return render(request, "accounts/audit.html",
                  {"events": AuditEvent.objects.select_related("actor")[:500]})
