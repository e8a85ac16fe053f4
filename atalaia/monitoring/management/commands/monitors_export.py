from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from atalaia.monitoring.monitors_yaml import export_monitors


class Command(BaseCommand):
    help = ("Write every monitor and maintenance window as YAML, to FILE or standard output "
            "(reads back with `atalaia monitors import`).")

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default="-")

    def handle(self, *args, file, **options):
        text = export_monitors()
        if file == "-":
            self.stdout.write(text, ending="")
            return
        try:
            Path(file).write_text(text)
        except OSError as exc:
            raise CommandError(f"cannot write {file}: {exc}") from None
