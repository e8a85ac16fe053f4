from django.apps import AppConfig


class RemoteConfig(AppConfig):
    name = "atalaia.remote"
    label = "remote"
