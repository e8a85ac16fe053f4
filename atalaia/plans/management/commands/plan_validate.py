from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from atalaia.lib.yamldoc import DocumentError
from atalaia.plans.actions import validate_plan


class Command(BaseCommand):
    help = "Check a crisis plan file without importing it; exit 1 with every problem found."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        try:
            doc = validate_plan(Path(file).read_text())
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        except DocumentError as exc:
            raise CommandError(f"{file}:\n  " + "\n  ".join(exc.problems)) from None
        self.stdout.write(f"{file}: valid plan {doc['name']!r} with {len(doc['rules'])} rules")
