from django.core.management.base import BaseCommand, CommandError

from atalaia.accounts.models import User
from atalaia.incidents.actions import IncidentError, declare_incident


class Command(BaseCommand):
    help = "Declare an incident: `atalaia incident declare TITLE -s SERVICE [-s ...]`."

    def add_arguments(self, parser):
        parser.add_argument("title")
        parser.add_argument("-s", "--service", action="append", default=[], required=True)
        parser.add_argument("--summary", default="")
        parser.add_argument("--security-risk", default="",
                            help="flag a security risk, with this reason")
        parser.add_argument("--confidential", action="store_true")
        parser.add_argument("--as", dest="username", default=None, help="acting user")

    def handle(self, *args, title, service, summary, security_risk, confidential, username,
             **options):
        actor = None
        if username:
            actor = User.objects.filter(username=username).first()
            if actor is None:
                raise CommandError(f"no user {username!r}")
        try:
            incident = declare_incident(actor, title, service, summary=summary,
                                        security_risk=bool(security_risk),
                                        security_reason=security_risk, confidential=confidential)
        except IncidentError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"incident {incident.pk} declared: level {incident.level} "
                          f"({incident.plan_level_reason})")
