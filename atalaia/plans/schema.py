"""The crisis plan file: its closed schema, its migrations and classification.

docs/plan.md documents every key.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext_noop

from atalaia.lib import yamldoc as y
from atalaia.lib.yamldoc import DocumentError

SCHEMA_VERSION = 1
# Most severe first: classification tries the levels in this order.
LEVELS = ("critical", "large_scale", "localized")
PHASES = ("assessment", "response", "communication", "resolution", "review")
INCIDENT_ROLES = ("commander", "technical_lead", "communications_lead")
RISKS = ("low", "medium", "high")
METRICS = {
    "users_affected": "number", "users_share": "number", "services_affected": "number",
    "critical_services": "number", "security_risk": "flag", "operational_risk": "risk",
}
OPERATORS = ("==", "!=", ">", ">=", "<", "<=")
PUBLIC_STATUSES = ("investigating", "identified", "monitoring", "resolved")

URGENCIES = ("high", "low")
# A team to page at a level: its slug, or {team, policy, urgency} to name the
# escalation policy (default: the team's own) and the urgency (default: high,
# low for localized failures).
ACTIVATION_MAPPING = y.mapping({"team": (y.string(63), True),
                               "policy": (y.string(200), False),
                               "urgency": (y.one_of(*URGENCIES), False)})


def _activation(value, path, checker):
    if isinstance(value, dict):
        return ACTIVATION_MAPPING(value, path, checker)
    return y.string(63)(value, path, checker)


LEVEL = y.mapping({
    "name": (y.localized(), True),
    "description": (y.localized(), False),
    "activate": (y.list_of(_activation), False),
    "update_every_minutes": (y.integer(1, 10_080), True),
    # Public update texts that pre-fill each public status, with {title},
    # {components} and {eta} filled in (comms/render.py).
    "templates": (y.mapping({s: (y.localized(), False) for s in PUBLIC_STATUSES}), False),
    # What must hold before the public status may become resolved (incidents/gate.py).
    "verification": (y.mapping({
        "green_minutes": (y.integer(0, 1440), False),
        "checks": (y.list_of(y.mapping({"text": (y.localized(), True),
                                         "team": (y.string(63), False),
                                         "role": (y.one_of(*INCIDENT_ROLES), False)})),
                   False),
        "signoff": (y.boolean(), False),
        # A service no monitor covers: block, or let the commander's sign-off vouch.
        "unmonitored": (y.one_of("block", "sign_off"), False)},
        defaults={"green_minutes": 0, "checks": [], "signoff": True, "unmonitored": "block"}),
        False),
    "targets": (y.mapping({p: (y.integer(1, 525_600), True) for p in PHASES}), True),
}, defaults={"activate": []})
CONDITION = y.mapping({"metric": (y.one_of(*METRICS), True),
                       "op": (y.one_of(*OPERATORS), True),
                       "value": (y.any_value(), True)})
RULE = y.mapping({"level": (y.one_of(*LEVELS), True),
                  "match": (y.one_of("all", "any"), False),
                  "when": (y.list_of(CONDITION, min_items=1), True),
                  "description": (y.text_or_localized(500), False)},
                 defaults={"match": "all"})
CHECK_ITEM = y.mapping({"text": (y.localized(), True),
                        "owner": (y.one_of(*INCIDENT_ROLES), True)})
PLAN = y.mapping({
    "schema_version": (y.integer(1), True),
    "name": (y.string(200), True),
    "levels": (y.mapping({lvl: (LEVEL, True) for lvl in LEVELS}), True),
    "rules": (y.list_of(RULE), True),
    "checklists": (y.mapping({p: (y.list_of(CHECK_ITEM), False) for p in PHASES}), True),
    # Optional; without it only critical signals declare incidents by themselves.
    "intake": (y.mapping({"auto_declare_severities": (
        y.list_of(y.one_of("critical", "error", "warning", "info")), False)}), False),
})


def parse_plan(text: str, known_teams: set[str] | None = None) -> dict:
    """Validate a plan file and return its document. Raises DocumentError."""
    data, lines = y.load(text)
    checker = y.Checker(lines)
    if isinstance(data, dict) and data.get("schema_version") not in (None, SCHEMA_VERSION):
        checker.error(("schema_version",),
                      f"this Atalaia reads schema_version {SCHEMA_VERSION}, "
                      f"the file says {data.get('schema_version')!r}")
        checker.raise_if_any()
    doc = PLAN(data if data is not None else {}, (), checker)
    checker.raise_if_any()
    _check_conditions(doc, checker)
    _check_verification(doc, checker)
    if known_teams is not None:
        for level in doc["levels"]:
            for i, item in enumerate(activations(doc, level)):
                if item["team"] not in known_teams:
                    checker.error(("levels", level, "activate", i),
                                  f"unknown team {item['team']!r}")
            for i, check in enumerate(doc["levels"][level].get("verification", {})
                                      .get("checks", [])):
                if check.get("team") and check["team"] not in known_teams:
                    checker.error(("levels", level, "verification", "checks", i, "team"),
                                  f"unknown team {check['team']!r}")
    for phase in PHASES:
        doc["checklists"].setdefault(phase, [])
    checker.raise_if_any()
    return doc


def _check_verification(doc: dict, checker: y.Checker) -> None:
    for level, spec in doc["levels"].items():
        for i, check in enumerate((spec.get("verification") or {}).get("checks", [])):
            if bool(check.get("team")) == bool(check.get("role")):
                checker.error(("levels", level, "verification", "checks", i),
                              "a check names who ticks it: a team or an incident role")


def _check_conditions(doc: dict, checker: y.Checker) -> None:
    for i, rule in enumerate(doc["rules"]):
        for j, cond in enumerate(rule["when"]):
            kind, value = METRICS[cond["metric"]], cond["value"]
            path = ("rules", i, "when", j, "value")
            if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
                checker.error(path, f"{cond['metric']} is compared with a number")
            elif kind == "flag" and (not isinstance(value, bool) or cond["op"] not in ("==", "!=")):
                checker.error(path, f"{cond['metric']} takes == or != with true or false")
            elif kind == "risk" and value not in RISKS:
                checker.error(path, f"{cond['metric']} is compared with one of {', '.join(RISKS)}")


def activations(plan: dict | None, level: str) -> list[dict]:
    """The teams a level pages, each as {team, policy, urgency} with the defaults filled."""
    if not plan or level not in plan.get("levels", {}):
        return []
    default = "low" if level == "localized" else "high"
    items = []
    for item in plan["levels"][level].get("activate", []):
        item = item if isinstance(item, dict) else {"team": item}
        items.append({"team": item["team"], "policy": item.get("policy") or "",
                      "urgency": item.get("urgency") or default})
    return items


# -- migrations of stored documents --------------------------------------------------

# MIGRATIONS[n] turns a version-n document into a version-(n+1) one. Later
# capabilities add optional sections; when the schema changes, a function is
# added here and stored versions are read through it, never left unreadable.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


def migrate(document: dict, from_version: int) -> dict:
    if from_version > SCHEMA_VERSION:
        raise DocumentError([f"schema_version {from_version} is newer than this Atalaia "
                             f"({SCHEMA_VERSION})"])
    for version in range(from_version, SCHEMA_VERSION):
        document = MIGRATIONS[version](document)
    return document


# -- classification ------------------------------------------------------------------

def classify(plan: dict, impact: dict) -> tuple[str, str, dict]:
    """The level for an impact: (level, reason, details). Most severe level first.

    The reason is in English for logs and the API; details carry the rule and
    the figures so that the console can say the same in the reader's language
    (describe()).
    """
    figures = {metric: impact.get(metric) for metric in METRICS}
    for level in LEVELS:
        for index, rule in enumerate(plan["rules"]):
            if rule["level"] != level:
                continue
            results = [_holds(cond, figures) for cond in rule["when"]]
            matched = all(results) if rule["match"] == "all" else any(results)
            if matched:
                details = {"rule": index + 1, "level": level, "match": rule["match"],
                           "description": rule.get("description") or "",
                           "used": [c for c, ok in zip(rule["when"], results, strict=True)
                                    if ok],
                           "figures": figures}
                return level, describe(details, "en"), details
    details = {"rule": None, "level": LEVELS[-1], "figures": figures}
    return LEVELS[-1], describe(details, "en"), details


def describe(details: dict, language: str | None = None) -> str:
    """Why the plan gave this level, in words, in the given (or active) language."""
    from django.utils import translation
    from django.utils.translation import gettext as _

    with translation.override(language or translation.get_language() or "en"):
        if details.get("no_plan"):
            return _("no active plan: the lowest level applies")
        if details.get("rule") is None:
            return _("no rule matched: the lowest level applies")
        joiner = _(" and ") if details["match"] == "all" else _(" or ")
        conditions = joiner.join(
            _("%(metric)s %(op)s %(value)s (is %(actual)s)") % {
                "metric": _(METRIC_LABELS[c["metric"]]), "op": c["op"],
                "value": _show(c["value"]), "actual": _show(details["figures"][c["metric"]])}
            for c in details["used"])
        description = pick_text(details.get("description"), translation.get_language()) \
            or _(LEVEL_LABELS[details["level"]])
        return _("rule %(number)s (%(description)s): %(conditions)s") % {
            "number": details["rule"], "description": description, "conditions": conditions}


def pick_text(text, language: str | None) -> str:
    """A plan text that is either plain or given per language ({en, pt-BR})."""
    if isinstance(text, dict):
        return text["pt-BR"] if (language or "").lower().startswith("pt") else text["en"]
    return text or ""


# In English a reason names the metric as the plan file does; translations
# give the words (marked here, translated when a reason is described).
METRIC_LABELS = {
    "users_affected": gettext_noop("users_affected"),
    "users_share": gettext_noop("users_share"),
    "services_affected": gettext_noop("services_affected"),
    "critical_services": gettext_noop("critical_services"),
    "security_risk": gettext_noop("security_risk"),
    "operational_risk": gettext_noop("operational_risk"),
}
LEVEL_LABELS = {"critical": gettext_noop("Critical incident"),
                "large_scale": gettext_noop("Large-scale failure"),
                "localized": gettext_noop("Localized failure")}


def _holds(cond: dict, figures: dict) -> bool:
    actual, wanted = figures.get(cond["metric"]), cond["value"]
    if METRICS[cond["metric"]] == "risk":
        actual, wanted = RISKS.index(actual or "low"), RISKS.index(wanted)
    if actual is None:
        return False
    op = cond["op"]
    return {"==": actual == wanted, "!=": actual != wanted, ">": actual > wanted,
            ">=": actual >= wanted, "<": actual < wanted, "<=": actual <= wanted}[op]


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def level_name(plan: dict | None, level: str, language: str = "en") -> str:
    if not plan or level not in plan.get("levels", {}):
        return level
    names = plan["levels"][level]["name"]
    return names["pt-BR"] if language.lower().startswith("pt") else names["en"]
