from django.core.management.base import BaseCommand

from atalaia.monitoring.prober import run_forever


class Command(BaseCommand):
    help = "Run the prober: check the monitors it holds a lease on, for one location."

    def add_arguments(self, parser):
        parser.add_argument("--location", default="default",
                            help="the probe location this prober votes for (default: default)")

    def handle(self, *args, location, **options):
        run_forever(location)
