from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "atalaia.web"
    label = "web"

    def ready(self) -> None:
        # The worker's jobs this app runs (atalaia/lib/jobs.py); imported here: the
        # models are loaded now.
        from atalaia.web import jobs as web_jobs
        from atalaia.web import keys  # noqa: F401 - registers its system check

        web_jobs.register()
