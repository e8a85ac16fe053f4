"""A page for a confidential incident: the person paged joins it, so the link in
the page opens for them (and the timeline says so); others still cannot open it."""

import re
from importlib import import_module

from atalaia.incidents.models import EntryKind
from atalaia.notify.contacts import add_verified
from atalaia.notify.outbox import send_due
from atalaia.oncall import paging
from atalaia.oncall.models import Page


def test_the_person_paged_for_a_confidential_incident_can_open_it(demo, personas, clients,
                                                                    mail):
    from atalaia.incidents.actions import declare_incident

    add_verified(personas["responder"], "email", "responder@example.test", "work")
    # Declared by the admin; the demo plan pages the technical team (responder, commander).
    incident = declare_incident(personas["admin"], "Quokka vault breach", ["intranet"],
                                confidential=True)
    send_due()
    message = next(m for m in mail.parsed() if m["To"] == "responder@example.test")
    link = re.search(r"Open the incident: \S+?(/incidents/\d+/)", message.get_payload()).group(1)
    opened = clients["responder"].get(link)
    assert opened.status_code == 200 and "Quokka vault breach" in opened.content.decode()
    joined = [e.body["user"] for e in incident.entries.filter(kind=EntryKind.PAGING)
              if e.body.get("event") == "paged" and e.body.get("joined")]
    assert sorted(joined) == ["commander", "responder"]
    assert "joins the incident" in opened.content.decode()
    assert clients["communicator"].get(link).status_code == 404


def test_a_page_handed_on_opens_the_incident_for_the_new_person(demo, personas, clients):
    from atalaia.incidents.actions import declare_incident

    incident = declare_incident(personas["admin"], "Quokka vault breach", ["intranet"],
                                confidential=True)
    assert clients["viewer"].get(f"/incidents/{incident.pk}/").status_code == 404
    page = Page.objects.get(incident=incident, user=personas["responder"])
    paging.reassign(page, personas["viewer"], personas["responder"])
    assert clients["viewer"].get(f"/incidents/{incident.pk}/").status_code == 200


def test_people_paged_before_the_upgrade_join_their_incidents(demo, personas, clients):
    from django.apps import apps

    from atalaia.incidents.actions import declare_incident

    incident = declare_incident(personas["admin"], "Quokka vault breach", ["intranet"],
                                confidential=True)
    incident.participants.remove(personas["responder"])  # as paging left it before
    assert clients["responder"].get(f"/incidents/{incident.pk}/").status_code == 404
    migration = import_module("atalaia.oncall.migrations.0004_paged_people_take_part")
    migration.paged_people_take_part(apps, None)
    assert clients["responder"].get(f"/incidents/{incident.pk}/").status_code == 200
    assert clients["viewer"].get(f"/incidents/{incident.pk}/").status_code == 404
