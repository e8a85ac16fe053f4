from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from atalaia.comms.subscriptions import SubscriptionError, import_csv


class Command(BaseCommand):
    help = ("Import e-mail subscribers from a CSV file: email[,language][,components "
            "separated by ;]. They are taken as confirmed (they opted in elsewhere) and "
            "sent nothing now. Format: docs/subscriptions.md.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--language", default="en",
                            help="for rows without one: en (the default) or pt-br")

    def handle(self, *args, file, language, **options):
        path = Path(file)
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                lines = sum(1 for _line in handle)
            with path.open(encoding="utf-8-sig", newline="") as handle, _bar() as bar:
                task = bar.add_task("importing", total=lines)
                result = import_csv(handle, language,
                                    progress=lambda line: bar.update(task, completed=line))
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        except SubscriptionError as exc:
            raise CommandError(str(exc)) from None
        for line, problem in result.errors:
            self.stderr.write(f"{file}:{line}: {problem}")
        self.stdout.write(f"imported {result.created}, skipped {result.skipped} (subscribed "
                          f"already, unsubscribed before, or repeated), "
                          f"{len(result.errors)} bad rows")
        if result.errors:
            raise CommandError(f"{len(result.errors)} bad rows (listed above) were not "
                               f"imported; the others were")


def _bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)
