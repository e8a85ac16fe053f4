from django.core.management.base import BaseCommand

from atalaia.catalog.actions import export_catalog


class Command(BaseCommand):
    help = "Print the whole catalog as YAML (reads back with `atalaia catalog import`)."

    def handle(self, *args, **options):
        self.stdout.write(export_catalog(), ending="")
