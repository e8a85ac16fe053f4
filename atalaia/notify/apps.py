from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "atalaia.notify"
    label = "notify"

    def ready(self) -> None:
        # The worker's jobs this app runs (atalaia/lib/jobs.py); imported here: the
        # models are loaded now.
        from atalaia.notify import accountmail
        from atalaia.notify import jobs as notify_jobs

        notify_jobs.register()
        accountmail.register()
