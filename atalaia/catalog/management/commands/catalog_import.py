from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from atalaia.catalog.actions import import_catalog
from atalaia.lib.yamldoc import DocumentError


class Command(BaseCommand):
    help = "Import a catalog file (segments, teams, services): all of it or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        try:
            counts = import_catalog(Path(file).read_text())
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        except DocumentError as exc:
            raise CommandError(f"{file}: nothing imported:\n  " + "\n  ".join(exc.problems)) \
                from None
        self.stdout.write(f"imported {counts['segments']} segments, {counts['teams']} teams, "
                          f"{counts['services']} services")
