from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "atalaia.comms"
    label = "comms"

    def ready(self) -> None:
        # Listens to the incident's lifecycle (imported here: the models are loaded now).
        from atalaia.comms import listeners

        listeners.register()
        # The worker's jobs this app runs (atalaia/lib/jobs.py).
        from atalaia.comms import jobs as comms_jobs

        comms_jobs.register()
