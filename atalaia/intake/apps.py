from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "atalaia.intake"
    label = "intake"
