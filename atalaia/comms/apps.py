from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "atalaia.comms"
    label = "comms"
