import difflib

from django.db import transaction
from django.db.models import Max

from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.catalog.models import Team
from atalaia.plans.models import PlanVersion
from atalaia.plans.schema import SCHEMA_VERSION, parse_plan


def validate_plan(text: str) -> dict:
    return parse_plan(text, known_teams=set(Team.objects.values_list("slug", flat=True)))


@transaction.atomic
def import_plan(text: str, actor: User | None = None, activate: bool = True,
                note: str = "") -> PlanVersion:
    """Store the file as the next plan version (and make it active)."""
    doc = validate_plan(text)
    number = (PlanVersion.objects.select_for_update().aggregate(n=Max("number"))["n"] or 0) + 1
    version = PlanVersion.objects.create(number=number, name=doc["name"], source=text,
                                         document=doc, schema_version=SCHEMA_VERSION,
                                         created_by=actor, note=note[:500])
    if activate:
        activate_plan(version, actor)
    audit(actor, "plan.import", "plan", str(version), {"active": activate})
    return version


@transaction.atomic
def activate_plan(version: PlanVersion, actor: User | None = None) -> None:
    PlanVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    PlanVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.is_active = True
    audit(actor, "plan.activate", "plan", str(version))


def active_plan() -> PlanVersion | None:
    return PlanVersion.objects.filter(is_active=True).first()


def diff_plans(old: PlanVersion, new: PlanVersion) -> list[tuple[str, str]]:
    """Line-by-line difference of the two files: (kind, line) with kind in ' +-@'."""
    lines = difflib.unified_diff(old.source.splitlines(), new.source.splitlines(),
                                 f"v{old.number}", f"v{new.number}", lineterm="", n=3)
    return [(line[:1] if line[:1] in "+-@" else " ", line) for line in lines]
