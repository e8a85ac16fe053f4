from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "atalaia.intake"
    label = "intake"

    def ready(self) -> None:
        # Listens to the incident's lifecycle (imported here: the models are loaded now).
        from atalaia.intake import listeners

        listeners.register()
        # The worker's jobs this app runs (atalaia/lib/jobs.py).
        from atalaia.intake import jobs as intake_jobs

        intake_jobs.register()
