from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from atalaia.remote.runbooks import DocumentError, import_runbooks


class Command(BaseCommand):
    help = "Import runbooks from a YAML file (a changed runbook gets a new version)."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        try:
            saved = import_runbooks(Path(file).read_text())
        except DocumentError as exc:
            raise CommandError("\n".join(exc.problems)) from None
        for runbook in saved:
            self.stdout.write(f"{runbook.slug}: version {runbook.version}, "
                              f"{len(runbook.steps)} step(s)")
