from django.core.management.base import BaseCommand, CommandError

from atalaia.catalog.models import Service
from atalaia.intake.actions import create_integration
from atalaia.intake.models import IntegrationKind


class Command(BaseCommand):
    help = "Create an intake integration and print its key once: KIND NAME [--service SLUG]."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=IntegrationKind.values)
        parser.add_argument("name")
        parser.add_argument("--service", help="service for signals that name none")
        parser.add_argument("--rate", type=int, help="events per minute (default from settings)")

    def handle(self, *args, kind, name, service, rate, **options):
        target = None
        if service:
            target = Service.objects.filter(slug=service).first()
            if target is None:
                raise CommandError(f"unknown service {service!r}")
        if rate is not None and rate < 1:
            raise CommandError("--rate must be at least 1")
        _integration, key = create_integration(kind, name, service=target, rate_per_minute=rate)
        self.stdout.write(key)
