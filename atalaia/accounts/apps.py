from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "atalaia.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.core import checks

        from atalaia.accounts import jobs, sso, throttle

        jobs.register()
        checks.register(sso.check_settings)
        checks.register(throttle.check_proxy_settings, checks.Tags.security)
