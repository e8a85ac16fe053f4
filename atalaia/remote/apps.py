from django.apps import AppConfig


class RemoteConfig(AppConfig):
    name = "atalaia.remote"
    label = "remote"

    def ready(self) -> None:
        # Listens to the incident's lifecycle (imported here: the models are loaded now).
        from atalaia.remote import listeners

        listeners.register()
        # The worker's jobs this app runs (atalaia/lib/jobs.py).
        from atalaia.remote import jobs as remote_jobs

        remote_jobs.register()
