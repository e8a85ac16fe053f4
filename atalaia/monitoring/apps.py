from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "atalaia.monitoring"
    label = "monitoring"
