from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "atalaia.incidents"
    label = "incidents"
