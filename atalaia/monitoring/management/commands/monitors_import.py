import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from atalaia.lib.yamldoc import DocumentError
from atalaia.monitoring.monitors_yaml import import_monitors


class Command(BaseCommand):
    help = ("Import monitors and maintenance windows from a YAML file (`-`: standard input): "
            "all of it or nothing. Format: docs/monitors-as-code.md.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--prune", action="store_true",
                            help="also delete the monitors and windows the file leaves out")
        parser.add_argument("--dry-run", action="store_true",
                            help="check the file and show what would change; save nothing")

    def handle(self, *args, file, prune, dry_run, **options):
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        try:
            summary = import_monitors(text, prune=prune, dry_run=dry_run)
        except DocumentError as exc:
            raise CommandError(f"{file}: nothing imported:\n  " + "\n  ".join(exc.problems)) \
                from None
        for line in summary.lines():
            self.stdout.write(line)
