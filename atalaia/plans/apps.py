from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "atalaia.plans"
    label = "plans"
