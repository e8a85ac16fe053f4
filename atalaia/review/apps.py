from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "atalaia.review"
    label = "review"

    def ready(self) -> None:
        # Listens to the incident's lifecycle (imported here: the models are loaded now).
        from atalaia.review import listeners

        listeners.register()
