from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "atalaia.review"
    label = "review"
