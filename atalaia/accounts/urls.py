from django.urls import path

from atalaia.accounts import sso_views, views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", sso_views.LogoutView.as_view(), name="logout"),
    path("sso/login/", sso_views.sso_login, name="sso_login"),
    path("sso/callback/", sso_views.sso_callback, name="sso_callback"),
    path("2fa/verify/", views.verify_2fa, name="2fa_verify"),
    path("2fa/enrol/", views.enrol_2fa, name="2fa_enrol"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke, name="revoke"),
    path("language/", views.set_language, name="language"),
    path("users/", views.users, name="users"),
    path("users/<int:user_id>/", views.person, name="person"),
    path("users/<int:user_id>/settings/", views.person_settings, name="person_settings"),
    path("users/<int:user_id>/password/", views.person_password, name="person_password"),
    path("users/<int:user_id>/two-factor/", views.person_two_factor,
         name="person_two_factor"),
    path("users/<int:user_id>/active/", views.person_active, name="person_active"),
    path("users/<int:user_id>/unlock/", views.person_unlock, name="person_unlock"),
    path("security/", views.security, name="security"),
    path("audit/", views.audit_log, name="audit"),
]
