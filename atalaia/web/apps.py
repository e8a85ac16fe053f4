from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "atalaia.web"
    label = "web"
