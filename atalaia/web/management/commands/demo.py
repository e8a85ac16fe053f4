import os
import secrets
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand
from django.db import transaction

from atalaia.accounts.actions import create_user
from atalaia.accounts.models import AccountRole, User
from atalaia.catalog.actions import import_catalog
from atalaia.catalog.models import Service
from atalaia.monitoring.models import Monitor
from atalaia.monitoring.monitors_yaml import import_monitors
from atalaia.notify.contacts import add_verified
from atalaia.plans.actions import import_plan
from atalaia.remote.runbooks import import_runbooks

DEMO = Path(__file__).resolve().parents[3] / "demo"
PERSONAS = {"commander": AccountRole.COMMANDER, "responder": AccountRole.RESPONDER,
            "communicator": AccountRole.COMMUNICATOR, "viewer": AccountRole.VIEWER}


class Command(BaseCommand):
    help = "Load the demo plan, catalog and an admin user (prints the admin's password)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing when a catalog is already loaded")

    def handle(self, *args, if_empty, **options):
        if if_empty and Service.objects.exists():
            self.stdout.write("demo already loaded; reset the admin password with "
                              "`atalaia changepassword admin`")
            return
        with transaction.atomic():
            password = self._users()
            import_catalog((DEMO / "catalog.yaml").read_text())
            version = import_plan((DEMO / "plan.yaml").read_text(), note="demo plan")
            monitors = (DEMO / "monitors.yaml").read_text().replace(
                "${PORT}", os.environ.get("PORT", "8000"))
            import_monitors(monitors)
            import_runbooks((DEMO / "runbooks.yaml").read_text())
            self._oncall()
        self.stdout.write(f"demo loaded: {Service.objects.count()} services, "
                          f"{Monitor.objects.count()} monitors, plan version {version.number}")
        if password:
            self.stdout.write(f"log in as admin / {password}  (you will enrol an "
                              "authenticator app for two-factor authentication first)")

    def _oncall(self) -> None:
        """A weekly rotation for the Technical team and the policy the plan pages it
        through: whoever is on call first, the whole team after 5 minutes."""
        from atalaia.catalog.models import Team
        from atalaia.oncall import actions, policies

        zone = ZoneInfo("America/Sao_Paulo")
        today = datetime.now(zone).date()
        monday = datetime.combine(today - timedelta(days=today.weekday()), time(9), zone)
        schedule = actions.save_schedule(None, {
            "name": "Technical primary", "time_zone": zone.key,
            "description": "Weekly, handing off on Mondays at 09:00 São Paulo time."}, None)
        actions.save_layer(schedule, None, {
            "name": "Weekly", "position": 1, "rotation_start": monday, "turn_unit": "weeks",
            "turn_count": 1}, [User.objects.get(username=n) for n in ("commander", "responder")],
            None)
        policies.save_policy(None, {
            "name": "Technical", "team": Team.objects.get(slug="technical"), "repeats": 1,
            "ack_timeout_minutes": 30, "description": "On call first, then the whole team.",
            "levels": [{"targets": [{"schedule": "Technical primary"}],
                        "escalate_after_minutes": 5},
                       {"targets": [{"team": "technical"}], "escalate_after_minutes": 10}]},
            None)

    def _users(self) -> str | None:
        for username, role in PERSONAS.items():
            if not User.objects.filter(username=username).exists():
                # Demo members of the teams; an admin sets their passwords. Their
                # e-mail reaches the local mail catcher that `make run` starts.
                user = create_user(username, secrets.token_urlsafe(24), role)
                user.set_unusable_password()
                user.save(update_fields=["password"])
                add_verified(user, "email", f"{username}@demo.atalaia.test", "work e-mail")
        if User.objects.filter(username="admin").exists():
            return None
        password = secrets.token_urlsafe(12)
        create_user("admin", password, AccountRole.ADMIN)
        return password
