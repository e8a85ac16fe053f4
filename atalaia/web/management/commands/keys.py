"""`atalaia keys status` and `atalaia keys rotate`: the key ring and the stored secrets.

It lives in `web` because the secrets are columns of many apps (atalaia/web/keys.py).
Rotation steps for an administrator are in docs/configuration.md.
"""

from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from atalaia.incidents.models import TimelineEntry
from atalaia.lib import crypto
from atalaia.web import keys


class Command(BaseCommand):
    help = "The instance's keys: status (key ids, what each encrypted) or rotate."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("status", help="the keys, and the stored secrets and timeline "
                                      "entries each key made")
        sub.add_parser("rotate", help="re-encrypt every stored secret under the current key "
                                      "(safe to run again)")

    def handle(self, *args, action, **options):
        if action == "status":
            self.status()
        else:
            self.rotate()

    def status(self) -> None:
        ring = crypto.ring()
        source = settings.SECRET_KEY_PATH or "ATALAIA_SECRET_KEY"
        self.stdout.write(f"key {ring[0].id}: current ({source})")
        for key in ring[1:]:
            self.stdout.write(f"key {key.id}: fallback (SECRET_KEY_FALLBACKS)")
        totals: Counter = Counter()
        for column, counts in keys.census().items():
            totals.update(counts)
            listed = ", ".join(f"{n} {self.label(key_id)}" for key_id, n in counts.items())
            self.stdout.write(f"{column}: {listed or 'none stored'}")
        entries = Counter({row["mac_key_id"] or keys.BEFORE_KEY_IDS: row["n"] for row in
                           TimelineEntry.objects.values("mac_key_id").annotate(n=Count("pk"))
                           .order_by()})
        listed = ", ".join(f"{n} {self.label(key_id)}" for key_id, n in entries.items())
        self.stdout.write(f"timeline entries (MACs are never re-made): {listed or 'none'}")
        stale = sum(n for key_id, n in totals.items() if key_id != ring[0].id)
        if stale:
            self.stdout.write(f"{stale} stored secret(s) are not under the current key: "
                              f"run `atalaia keys rotate`")

    @staticmethod
    def label(key_id: str) -> str:
        if key_id == keys.BEFORE_KEY_IDS:
            return key_id
        if key_id == crypto.current().id:
            return f"under {key_id} (current)"
        if crypto.key_with_id(key_id):
            return f"under {key_id} (fallback)"
        return f"under {key_id} (NOT CONFIGURED: unreadable)"

    def rotate(self) -> None:
        def progress(column: str, moved: int) -> None:
            self.stdout.write(f"{column}: {moved} re-encrypted so far")

        outcome = keys.rotate(progress)
        self.stdout.write(f"{outcome.moved} stored secret(s) re-encrypted under key "
                          f"{crypto.current().id}")
        if outcome.unreadable:
            where = ", ".join(f"{column}: {n}" for column, n in outcome.unreadable.items())
            raise CommandError(
                f"{sum(outcome.unreadable.values())} stored secret(s) cannot be decrypted "
                f"with any configured key ({where}); they were left as they are. Put the "
                f"secret that encrypted them in ATALAIA_SECRET_KEY_FALLBACKS and run again.")
