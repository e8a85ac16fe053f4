from django.conf import settings
from django.core.management.base import BaseCommand

from atalaia.notify.mailcatcher import serve


class Command(BaseCommand):
    help = "Run the demo's mail catcher: an SMTP server on 127.0.0.1 whose messages are " \
           "shown on /mailcatcher/ instead of being delivered."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.MAILCATCHER_PORT or 1025)

    def handle(self, *args, port, **options):
        self.stdout.write(f"mail catcher listening on 127.0.0.1:{port}")
        serve(port)
