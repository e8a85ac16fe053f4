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
        broken = 0
        for item in incidents.iterator():
            problem = verify(item)
            if problem is None:
                self.stdout.write(f"incident {item.pk}: {item.entry_count} entries, chain intact")
            else:
                broken += 1
                self.stdout.write(f"incident {item.pk}: BROKEN at entry {problem.seq}: "
                                  f"{problem.problem}")
        if broken:
            raise CommandError(f"{broken} incident timeline(s) broken")
