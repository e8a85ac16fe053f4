from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "atalaia.oncall"
    label = "oncall"

    def ready(self) -> None:
        # Listens to the incident's lifecycle (imported here: the models are loaded now).
        from atalaia.oncall import listeners

        listeners.register()
        # The worker's jobs this app runs (atalaia/lib/jobs.py).
        from atalaia.oncall import jobs as oncall_jobs

        oncall_jobs.register()
