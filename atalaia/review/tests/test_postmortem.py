"""The post-mortem document: generated from the incident, edited, exported as Markdown,
HTML and PDF (read back with poppler), published for the tracking page; people's text
never comes out as markup."""

import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.template.loader import render_to_string
from django.utils import timezone

from atalaia.comms.models import StatusVersion, TicketLink
from atalaia.incidents.actions import add_entry, declare_incident, set_resolution
from atalaia.incidents.models import EntryKind
from atalaia.remote.models import Run
from atalaia.review import postmortem
from atalaia.review.models import ActionItem, Review, TeamFeedback, UserFeedback
from conftest import api, signed_in

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def incident(demo, personas):
    commander, responder = personas["commander"], personas["responder"]
    incident = declare_incident(commander, f"Payments down {SCRIPT}", ["payments"])
    add_entry(incident, responder, EntryKind.NOTE, "Gateway answers 502")
    add_entry(incident, responder, EntryKind.ATTEMPT, f"Restarted the gateway {SCRIPT}")
    add_entry(incident, responder, EntryKind.RESULT, "Still failing", outcome="failure")
    set_resolution(incident, commander, "An expired TLS certificate",
                   "Automatic renewal with monitoring of expiry")
    now = timezone.now()
    Run.objects.create(incident=incident, step="renew-certificate", kind="change",
                       command="certbot renew", status="done", requested_by=responder,
                       requested_at=now, finished_at=now, is_fix=True)
    TicketLink.objects.create(incident=incident, system="zendesk", reference="T-1")
    TicketLink.objects.create(incident=incident, system="zendesk", reference="T-2")
    review = Review.objects.create(incident=incident, opened_at=now,
                                   contributing_factors="No alert on certificate expiry")
    TeamFeedback.objects.create(review=review, user=responder, worked="Paging was fast",
                                did_not=f"Runbook was stale {SCRIPT}", plan_rating=4,
                                tools_rating=2)
    TeamFeedback.objects.create(review=review, user=commander, plan_rating=5, tools_rating=3)
    UserFeedback.objects.create(incident=incident, recipient="a" * 64, rating=2,
                                comment="Took too long")
    ActionItem.objects.create(review=review, title="Alert 14 days before expiry",
                              owner=responder, due_on=(now + timedelta(days=7)).date())
    return incident


def test_the_document_has_every_section_and_the_incidents_data(incident):
    text = postmortem.generate(incident)
    for heading in ("## Summary", "## Impact", "## Timeline",
                    "## What was tried and what fixed it", "## Timings against the plan's targets",
                    "## Feedback", "## Contributing factors", "## Root cause and permanent fix",
                    "## Action items"):
        assert heading in text, heading
    assert f"#{incident.pk} Payments down" in text
    assert "Help-desk tickets linked:** 2" in text
    assert "Gateway answers 502" in text and "Still failing" in text
    assert "(failure)" in text
    assert "renew-certificate" in text and "certbot renew" in text
    assert "| Time to first public update |" in text
    assert "plan 4.5 / 5" in text and "tools 2.5 / 5" in text and "2.0 / 5" in text
    assert "Paging was fast" in text and "Took too long" in text
    assert "No alert on certificate expiry" in text
    assert "An expired TLS certificate" in text and "Automatic renewal" in text
    assert "- [ ] Alert 14 days before expiry (responder, due " in text
    # The timeline keeps its order.
    assert text.index("Incident declared") < text.index("Gateway answers 502") \
        < text.index("Root cause recorded")


def test_peoples_html_is_escaped_in_markdown_and_html(incident):
    text = postmortem.generate(incident)
    assert "<script>" not in text and "&lt;script&gt;" in text
    html = postmortem.to_html(text, "Post-mortem")
    assert "<script" not in html
    assert "&lt;script&gt;alert" in html
    assert "&amp;lt;" not in html  # escaped once, shown as text


def test_an_edited_document_cannot_carry_markup_or_script_links():
    html = postmortem.to_fragment(
        "<div onclick=x>raw</div>\n\nhi <img src=x onerror=alert(1)> "
        "[a](javascript:alert(1)) [b]( JaVa\tScRiPt:alert(2)) ![c](data:image/png;base64,AA)"
        " [ok](https://example.com/x) [rel](/status/)")
    assert "<div" not in html and "<img src=x" not in html
    assert 'href="javascript' not in html.lower() and "data:" not in html
    assert 'href="https://example.com/x"' in html and 'href="/status/"' in html


@pytest.mark.parametrize("address", [
    "javascript&#58;alert(1)", "&#106;avascript:alert(1)", "javascript&colon;alert(1)",
    "javascript&amp;#58;alert(1)", "java&#x09;script:alert(1)", "vbscript:x"])
def test_encoded_schemes_are_dropped_too(address):
    html = postmortem.to_fragment(f"[a]({address}) and [b][r]\n\n[r]: {address}")
    assert "href" not in html


def _pdf_text(tmp_path, pdf: bytes) -> str:
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(source),
                    str(tmp_path / "page")], check=True, timeout=60)
    assert [p for p in tmp_path.glob("page*.png") if p.stat().st_size > 0]
    return subprocess.run(["pdftotext", str(source), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout


def test_the_pdf_renders_with_the_title_and_escaped_text(incident, tmp_path):
    review = incident.review
    pdf, content_type, name = postmortem.export(review, "pdf")
    assert pdf.startswith(b"%PDF") and content_type == "application/pdf"
    assert name == f"postmortem-{incident.pk}.pdf"
    text = _pdf_text(tmp_path, pdf)
    assert "Payments down" in text
    assert "<script>alert('x')</script>" in text  # shown as text, not run or dropped
    assert "&lt;" not in text


def test_the_pdf_fetches_nothing(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not an image")
    pdf = postmortem.to_pdf(f"# T\n\n![x](file://{secret})\n\n![y](http://127.0.0.1:9/x.png)",
                            "T")
    assert pdf.startswith(b"%PDF")


def test_the_cli_writes_each_format(incident, tmp_path):
    for fmt in ("md", "html", "pdf"):
        target = tmp_path / f"out.{fmt}"
        call_command("postmortem_export", str(incident.pk), "--format", fmt,
                     "--output", str(target))
        assert target.stat().st_size > 0
    assert "## Timeline" in (tmp_path / "out.md").read_text()
    assert "<!doctype html>" in (tmp_path / "out.html").read_text()
    assert (tmp_path / "out.pdf").read_bytes().startswith(b"%PDF")
    assert "Payments down" in _pdf_text(tmp_path, (tmp_path / "out.pdf").read_bytes())
    out = StringIO()
    call_command("postmortem_export", str(incident.pk), "--output", "-", stdout=out)
    assert out.getvalue().startswith("# Post-mortem: #")
    with pytest.raises(CommandError):
        call_command("postmortem_export", "999999", "--output", str(tmp_path / "x.md"))


def test_edit_then_regenerate(incident, personas):
    console = signed_in(personas["responder"])
    url = f"/review/{incident.pk}/postmortem/"
    page = console.get(url).content.decode()
    assert 'id="postmortem-edit"' in page and "## Timeline" in page
    assert "<script>alert" not in page
    saved = console.post(url, {"action": "save", "text": "# Ours\n\nWritten <b>by hand</b>"})
    assert saved.status_code == 302
    review = Review.objects.get(incident=incident)
    assert review.document.startswith("# Ours") and review.document_updated_at
    page = console.get(url).content.decode()
    assert "<h1>Ours</h1>" in page and "&lt;b&gt;by hand&lt;/b&gt;" in page
    assert console.get(f"/review/{incident.pk}/postmortem.md").content.startswith(b"# Ours")
    console.post(url, {"action": "regenerate", "text": ""})
    review.refresh_from_db()
    assert review.document == "" and review.document_updated_at is None
    assert "## Timeline" in postmortem.document(review)


def test_publish_sets_the_public_version_and_writes_the_timeline(incident, personas):
    review = incident.review
    before = StatusVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    console = signed_in(personas["commander"])
    response = console.post(f"/review/{incident.pk}/postmortem/publish/",
                            {"text": f"# What happened\n\nA certificate expired. {SCRIPT}"})
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.public_document.startswith("# What happened") and review.published_at
    entry = incident.entries.order_by("-seq").first()
    assert entry.kind == EntryKind.REVIEW and entry.body["event"] == "postmortem_published"
    assert StatusVersion.objects.get(pk=1).version == before + 1
    # What the tracking page will include: rendered, with the text's HTML as text.
    shown = render_to_string("review/postmortem_public.html", {"review": review})
    assert 'id="postmortem"' in shown and "<h1>What happened</h1>" in shown
    assert "<script" not in shown and "&lt;script&gt;" in shown


def test_the_public_snippet_shows_nothing_before_publishing(incident):
    assert render_to_string("review/postmortem_public.html",
                            {"review": incident.review}).strip() == ""
    assert render_to_string("review/postmortem_public.html", {"review": ""}).strip() == ""


def test_a_confidential_incident_is_not_published(demo, personas):
    incident = declare_incident(personas["commander"], "Leak", ["payments"], confidential=True)
    review = Review.objects.create(incident=incident, opened_at=timezone.now())
    with pytest.raises(postmortem.NotPublic):
        postmortem.publish(review, personas["commander"], "text")
    review.refresh_from_db()
    assert review.published_at is None
    with pytest.raises(postmortem.PostmortemError):
        postmortem.publish(review, personas["commander"], "   ")


ROUTES = [("get", "/postmortem/"), ("get", "/postmortem.md"), ("get", "/postmortem.html"),
          ("post", "/postmortem/"), ("post", "/postmortem/publish/")]
READ = {"admin", "commander", "responder", "communicator", "viewer"}
EDIT = {"admin", "commander", "responder"}


@pytest.mark.parametrize("role", sorted(READ))
def test_every_route_for_every_role(incident, clients, role):
    for method, suffix in ROUTES:
        url = f"/review/{incident.pk}{suffix}"
        body = {"action": "save", "text": "x"} if suffix == "/postmortem/" else {"text": "y"}
        response = (clients[role].get(url) if method == "get"
                    else clients[role].post(url, body))
        allowed = role in (READ if method == "get" else EDIT)
        assert response.status_code == ((200 if method == "get" else 302) if allowed
                                        else 403), (role, method, suffix)


def test_anonymous_and_hidden_incidents(demo, personas, client):
    incident = declare_incident(personas["commander"], "Leak", ["payments"], confidential=True)
    Review.objects.create(incident=incident, opened_at=timezone.now())
    assert client.get(f"/review/{incident.pk}/postmortem/").status_code == 302
    viewer = signed_in(personas["viewer"])
    assert viewer.get(f"/review/{incident.pk}/postmortem/").status_code == 404
    assert signed_in(personas["admin"]).get(
        f"/review/{incident.pk}/postmortem.md").status_code == 200


def test_no_review_yet_is_not_found(demo, personas):
    incident = declare_incident(personas["commander"], "Ongoing", ["payments"])
    response = signed_in(personas["commander"]).get(f"/review/{incident.pk}/postmortem/")
    assert response.status_code == 404


def test_api_download_edit_publish(incident, tokens, client, tmp_path):
    base = f"/incidents/{incident.pk}/postmortem"
    md = api(client, "get", base, tokens["viewer"])
    assert md.status_code == 200 and md["Content-Type"].startswith("text/markdown")
    assert b"## Timeline" in md.content
    html = api(client, "get", base + "?format=html", tokens["viewer"])
    assert html.status_code == 200 and b"&lt;script&gt;" in html.content
    pdf = api(client, "get", base + "?format=pdf", tokens["viewer"])
    assert pdf.status_code == 200 and "Payments down" in _pdf_text(tmp_path, pdf.content)
    assert api(client, "get", base + "?format=doc", tokens["viewer"]).status_code == 422

    assert api(client, "put", base, tokens["viewer"], {"text": "x"}).status_code == 403
    edited = api(client, "put", base, tokens["responder"], {"text": "# Edited"})
    assert edited.status_code == 200 and edited.json()["edited"] is True
    assert edited.json()["document"] == "# Edited"
    back = api(client, "put", base, tokens["responder"], {"text": ""})
    assert back.json()["edited"] is False and "## Timeline" in back.json()["document"]

    assert api(client, "post", base + "/publish", tokens["viewer"], {}).status_code == 403
    published = api(client, "post", base + "/publish", tokens["commander"],
                    {"text": "# Public"})
    assert published.status_code == 200 and published.json()["public_document"] == "# Public"
    assert published.json()["published_at"]
    assert api(client, "post", base + "/publish", tokens["commander"],
               {"text": " "}).status_code == 422
    assert api(client, "get", "/incidents/999999/postmortem",
               tokens["admin"]).status_code == 404


def test_the_routes_are_in_the_openapi_document(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    route = schema["paths"]["/api/v1/incidents/{incident_id}/postmortem"]
    assert {"get", "put"} <= set(route)
    assert "application/pdf" in route["get"]["responses"]["200"]["content"]
    assert "format" in {p["name"] for p in route["get"]["parameters"]}


SNIPPET = '{% include "review/postmortem_public.html" with review=incident.review %}'


def test_the_tracking_page_snippet(incident, demo, personas):
    from django.template import Context, Template

    without_review = declare_incident(personas["commander"], "Other", ["payments"])
    assert Template(SNIPPET).render(Context({"incident": without_review})).strip() == ""
    postmortem.publish(incident.review, personas["commander"], "# Public text")
    incident.refresh_from_db()
    shown = Template(SNIPPET).render(Context({"incident": incident}))
    assert "<h1>Public text</h1>" in shown


def test_a_published_postmortem_shows_as_postmortem_in_the_statuspage_json(demo, personas):
    import json as jsonlib

    from django.test import Client

    from atalaia.comms.actions import publish_update
    from atalaia.incidents.actions import move_stage, set_public_status
    from conftest import pass_gate

    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    publish_update(incident, personas["communicator"], "identified", "Found it.", "Achamos.")
    move_stage(incident, personas["commander"], "resolution")
    pass_gate(incident, personas)
    set_public_status(incident, personas["commander"], "resolved")
    summary = jsonlib.loads(Client().get("/status/api/v2/incidents.json").content)
    assert summary["incidents"][0]["status"] == "resolved"
    postmortem.publish(incident.review, personas["commander"], "# What happened")
    summary = jsonlib.loads(Client().get("/status/api/v2/incidents.json").content)
    assert summary["incidents"][0]["status"] == "postmortem"
