from django.core.management.base import BaseCommand, CommandError

from atalaia.incidents.chain import verify
from atalaia.incidents.models import Incident


class Command(BaseCommand):
    help = "Check the timeline chain of one incident (or all); exit 1 at the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("incident", nargs="?", type=int)

    def handle(self, *args, incident=None, **options):
        incidents = Incident.objects.order_by("pk")
        if incident is not None:
            incidents = incidents.filter(pk=incident)
            if not incidents.exists():
                raise CommandError(f"no incident {incident}")
        broken = unchecked = 0
        for item in incidents.iterator():
            problem = verify(item)
            if problem is None:
                self.stdout.write(f"incident {item.pk}: {item.entry_count} entries, chain intact")
            elif problem.missing_key:
                unchecked += 1
                self.stdout.write(f"incident {item.pk}: CANNOT CHECK entry {problem.seq}: "
                                  f"{problem.problem}")
            else:
                broken += 1
                self.stdout.write(f"incident {item.pk}: BROKEN at entry {problem.seq}: "
                                  f"{problem.problem}")
        if broken or unchecked:
            raise CommandError(self.summary(broken, unchecked))

    @staticmethod
    def summary(broken: int, unchecked: int) -> str:
        parts = [f"{broken} incident timeline(s) broken"] if broken else []
        if unchecked:
            parts.append(f"{unchecked} incident timeline(s) could not be checked: put the "
                         f"secret that made them in ATALAIA_SECRET_KEY_FALLBACKS")
        return "; ".join(parts)
