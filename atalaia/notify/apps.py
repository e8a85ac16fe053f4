from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "atalaia.notify"
    label = "notify"
