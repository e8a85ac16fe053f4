from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from atalaia.catalog.models import Service
from atalaia.monitoring.models import Monitor, MonitorKind


class Command(BaseCommand):
    help = ("Add a heartbeat monitor to a service and print its ping URL: "
            "`atalaia monitor heartbeat SERVICE NAME --period 3600 --grace 300`.")

    def add_arguments(self, parser):
        parser.add_argument("service")
        parser.add_argument("name")
        parser.add_argument("--period", type=int, default=3600,
                            help="expected seconds between pings")
        parser.add_argument("--grace", type=int, default=300, help="seconds of lateness tolerated")
        parser.add_argument("--severity", default="critical",
                            choices=["critical", "error", "warning", "info"])

    def handle(self, *args, service, name, period, grace, severity, **options):
        target = Service.objects.filter(slug=service).first()
        if target is None:
            raise CommandError(f"unknown service {service!r}")
        if period < 1 or grace < 0:
            raise CommandError("--period must be at least 1 and --grace at least 0")
        monitor = Monitor.objects.create(service=target, name=name[:200],
                                         kind=MonitorKind.HEARTBEAT, interval_seconds=period,
                                         grace_seconds=grace, severity=severity)
        self.stdout.write(f"{settings.SITE_URL}/ping/{monitor.ping_key}")
