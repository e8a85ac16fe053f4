from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from atalaia.lib.yamldoc import DocumentError
from atalaia.plans.actions import import_plan


class Command(BaseCommand):
    help = "Import a crisis plan file as a new version and make it active."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--inactive", action="store_true",
                            help="store the version without making it active")
        parser.add_argument("--note", default="")

    def handle(self, *args, file, inactive, note, **options):
        try:
            version = import_plan(Path(file).read_text(), activate=not inactive, note=note)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        except DocumentError as exc:
            raise CommandError(f"{file}: not imported:\n  " + "\n  ".join(exc.problems)) from None
        state = "active" if version.is_active else "inactive"
        self.stdout.write(f"plan version {version.number} ({version.name}) imported, {state}")
