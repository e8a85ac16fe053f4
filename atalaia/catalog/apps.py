from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "atalaia.catalog"
    label = "catalog"
