"""Team members are edited from the console by admins; everyone sees who is in a team."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from atalaia.accounts.models import AuditEvent
from atalaia.catalog.models import Team
from atalaia.web.context import forget_health


def members(slug: str) -> set[str]:
    return set(Team.objects.get(slug=slug).members.values_list("username", flat=True))


def test_an_admin_adds_and_removes_a_team_member(demo, clients):
    before = members("support")
    assert "viewer" not in before
    response = clients["admin"].post("/teams/support/members/", {"add": "viewer"})
    assert response.status_code == 302 and response["Location"] == "/teams/"
    assert members("support") == before | {"viewer"}
    page = clients["viewer"].get("/teams/").content.decode()
    assert 'id="team-support"' in page and "viewer" in page
    assert 'name="remove"' not in page  # only admins get the controls
    clients["admin"].post("/teams/support/members/", {"remove": "viewer"})
    assert members("support") == before
    assert [(e.action, e.changes) for e in AuditEvent.objects.filter(object_type="team")] == [
        ("team.member_remove", {"member": "viewer"}), ("team.member_add", {"member": "viewer"})]


def test_an_unknown_person_or_team_is_named_in_the_answer(demo, clients):
    response = clients["admin"].post("/teams/support/members/", {"add": "nobody"}, follow=True)
    assert "There is no user nobody." in response.content.decode()
    assert clients["admin"].post("/teams/nope/members/", {"add": "viewer"}).status_code == 404


def test_only_admins_change_members(demo, clients):
    before = members("support")
    for role in ("commander", "responder", "communicator", "viewer"):
        assert clients[role].post("/teams/support/members/", {"add": "viewer"}
                                  ).status_code == 403
    assert members("support") == before


def test_the_teams_page_costs_the_same_queries_however_many_teams(demo, clients, personas):
    def queries() -> int:
        forget_health()  # the console's health banner is read now and then, not per page
        with CaptureQueriesContext(connection) as captured:
            assert clients["admin"].get("/teams/").status_code == 200
        return len(captured)

    before = queries()
    for n in range(3):
        Team.objects.create(slug=f"extra-{n}", name=f"Extra {n}").members.set(
            personas.values())
    assert queries() == before
