from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "atalaia.accounts"
    label = "accounts"
