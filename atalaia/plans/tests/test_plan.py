from pathlib import Path

import pytest

from atalaia.lib.yamldoc import DocumentError
from atalaia.plans.actions import diff_plans, import_plan
from atalaia.plans.models import PlanVersion
from atalaia.plans.schema import classify, parse_plan

DEMO_PLAN = (Path(__file__).parents[2] / "demo" / "plan.yaml").read_text()


def impact(**figures):
    base = {"users_affected": 0, "users_share": 0.0, "services_affected": 1,
            "critical_services": 0, "security_risk": False, "operational_risk": "low"}
    return {**base, **figures}


def test_demo_plan_is_valid_and_bilingual():
    plan = parse_plan(DEMO_PLAN)
    assert set(plan["levels"]) == {"localized", "large_scale", "critical"}
    assert plan["levels"]["critical"]["name"]["pt-BR"] == "Incidente crítico"
    assert all(plan["checklists"][p] for p in plan["checklists"])


def test_misspelt_key_is_named_with_its_line():
    text = DEMO_PLAN.replace("update_every_minutes: 30", "update_evry_minutes: 30")
    line = text.splitlines().index("    update_evry_minutes: 30") + 1
    with pytest.raises(DocumentError) as caught:
        parse_plan(text)
    assert f"line {line}: levels.large_scale.update_evry_minutes: unknown key" in \
        caught.value.problems[0]


def test_condition_value_of_the_wrong_type_is_an_error():
    text = DEMO_PLAN.replace('{metric: users_share, op: ">=", value: 0.5}',
                             '{metric: users_share, op: ">=", value: half}')
    with pytest.raises(DocumentError, match="users_share is compared with a number"):
        parse_plan(text)


def test_unknown_schema_version_is_refused():
    with pytest.raises(DocumentError, match="schema_version"):
        parse_plan(DEMO_PLAN.replace("schema_version: 1", "schema_version: 7"))


def test_most_severe_level_wins_whatever_the_rule_order():
    plan = parse_plan(DEMO_PLAN)
    # Put the localized rule first: classification must still try critical first.
    plan["rules"] = list(reversed(plan["rules"]))
    level, reason, details = classify(plan, impact(users_share=0.6, critical_services=1))
    assert level == "critical"
    assert "users_share >= 0.5 (is 0.6)" in reason


def test_the_reason_names_the_rule_and_the_figures():
    plan = parse_plan(DEMO_PLAN)
    level, reason, details = classify(plan, impact(critical_services=1, users_share=0.05))
    assert level == "large_scale"
    assert reason.startswith("rule 3 (many users or a critical system):")
    assert "critical_services >= 1 (is 1)" in reason
    assert "users_share" not in reason  # only the conditions that held are cited
    assert details["rule"] == 3


def test_all_conditions_must_hold_for_match_all():
    plan = parse_plan(DEMO_PLAN)
    plan["rules"] = [{"level": "critical", "match": "all", "when": [
        {"metric": "users_affected", "op": ">", "value": 10},
        {"metric": "operational_risk", "op": ">=", "value": "medium"}]}]
    assert classify(plan, impact(users_affected=11, operational_risk="low"))[0] == "localized"
    assert classify(plan, impact(users_affected=11, operational_risk="high"))[0] == "critical"


def test_import_makes_versions_and_one_active(demo):
    first = demo
    second = import_plan(DEMO_PLAN.replace("update_every_minutes: 15", "update_every_minutes: 10"))
    assert (first.number, second.number) == (1, 2)
    assert list(PlanVersion.objects.filter(is_active=True)) == [second]
    lines = diff_plans(first, second)
    assert ("-", "-    update_every_minutes: 15") in lines
    assert ("+", "+    update_every_minutes: 10") in lines


def test_plan_naming_an_unknown_team_is_refused(db):
    with pytest.raises(DocumentError, match="unknown team 'technical'"):
        import_plan(DEMO_PLAN)


def test_console_upload_of_a_file_shows_problems_or_makes_a_version(demo, clients):
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("plan.yaml", DEMO_PLAN.replace("rules:", "rulez:").encode())
    page = clients["admin"].post("/plan/upload/", {"file": bad, "activate": "on"})
    assert "rulez: unknown key" in page.content.decode()
    good = SimpleUploadedFile("plan.yaml", DEMO_PLAN.encode())
    response = clients["admin"].post("/plan/upload/", {"file": good, "activate": "on",
                                                       "note": "same again"})
    assert response.status_code == 302 and response["Location"] == "/plan/v2/"
    assert PlanVersion.objects.get(is_active=True).note == "same again"
