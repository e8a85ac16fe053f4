from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "atalaia.oncall"
    label = "oncall"
