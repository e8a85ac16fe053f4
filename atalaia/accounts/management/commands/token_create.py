from django.core.management.base import BaseCommand, CommandError

from atalaia.accounts.actions import create_token
from atalaia.accounts.models import User


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its hash is kept)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, username, name, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {username!r}")
        _token, plain = create_token(user, name)
        self.stdout.write(plain)
