from django.core.management.base import BaseCommand, CommandError

from atalaia.accounts.models import User
from atalaia.incidents.actions import IncidentError, add_entry
from atalaia.incidents.models import Incident


class Command(BaseCommand):
    help = "Add a note/action/attempt/result to an incident's timeline."

    def add_arguments(self, parser):
        parser.add_argument("incident", type=int)
        parser.add_argument("text")
        parser.add_argument("--kind", default="note")
        parser.add_argument("--outcome", default="")
        parser.add_argument("--as", dest="username", required=True, help="acting user")

    def handle(self, *args, incident, text, kind, outcome, username, **options):
        actor = User.objects.filter(username=username).first()
        target = Incident.objects.filter(pk=incident).first()
        if actor is None or target is None:
            raise CommandError("unknown user or incident")
        try:
            entry = add_entry(target, actor, kind, text, outcome)
        except IncidentError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"entry {entry.seq} added to incident {incident}")
