"""The `atalaia` command: Django's management commands behind one entry point."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaia.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    # `atalaia catalog import FILE` reads better than `catalog_import`: join
    # the two words when they name one of our commands.
    if len(argv) >= 3 and argv[1] in GROUPED:
        argv[1:3] = [f"{argv[1]}_{argv[2]}"]
    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"atalaia: configuration error: {exc}\n")
        sys.exit(2)


GROUPED = {"catalog", "plan", "token", "timeline", "incident", "integration", "monitor",
           "monitors", "subscribers", "status", "runbook", "postmortem"}
