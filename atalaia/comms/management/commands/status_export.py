from pathlib import Path

from django.core.management.base import BaseCommand

from atalaia.comms.export import export


class Command(BaseCommand):
    help = "Write the public status site (pages, Statuspage JSON, feeds) as static files."

    def add_arguments(self, parser):
        parser.add_argument("folder", help="where to write it (replaced as a whole)")

    def handle(self, *args, folder, **options):
        count = export(Path(folder))
        self.stdout.write(f"{count} files written under {folder}")
