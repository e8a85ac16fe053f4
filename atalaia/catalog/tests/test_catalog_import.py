import pytest
import yaml

from atalaia.catalog.actions import export_catalog, import_catalog
from atalaia.catalog.models import Service
from atalaia.lib.yamldoc import DocumentError

BASE = """
segments:
  - {slug: br, name: Brazil, users: 100}
services:
  - {slug: db, name: Database, criticality: critical}
  - {slug: api, name: API, depends_on: [db], segments: [{segment: br, share: 0.5}]}
"""


@pytest.fixture
def loaded(db):
    import_catalog(BASE)


def test_import_then_export_round_trips_without_loss(demo):
    first = export_catalog()
    import_catalog(first)
    assert export_catalog() == first
    doc = yaml.safe_load(first)
    assert len(doc["services"]) == 16
    checkout = next(s for s in doc["services"] if s["slug"] == "checkout")
    assert checkout["depends_on"] == ["catalog-api", "payments"]
    assert checkout["component"] == {"group": "Shopping"}


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  - {slug: a, name: A, depends_on: [b]}\n"
     "  - {slug: b, name: B, depends_on: [a]}\n",
     "service 'a': dependency cycle a -> b -> a"),
    ("services:\n  - {slug: a, name: A, depends_on: [ghost]}\n",
     "service 'a': depends on unknown service 'ghost'"),
    ("services:\n  - {slug: a, name: A, segments: [{segment: mars}]}\n",
     "service 'a': unknown segment 'mars'"),
    ("segments:\n  - {slug: s, name: S, users: 1}\nservices:\n"
     "  - {slug: a, name: A, segments: [{segment: s, share: 1.5}]}\n", "1.5 is outside 0..1"),
    ("segments:\n  - {slug: s, name: S, users: -3}\n", "-3 is outside 0..None"),
    ("services:\n  - {slug: a, name: A, critical: high}\n", "unknown key 'critical'"),
])
def test_bad_catalog_is_rejected_whole_with_a_message(loaded, text, message):
    before = export_catalog()
    with pytest.raises(DocumentError) as caught:
        import_catalog(text)
    assert any(message in p for p in caught.value.problems), caught.value.problems
    assert export_catalog() == before
    assert not Service.objects.filter(slug__in=["a", "b"]).exists()


def test_error_names_the_line(loaded):
    with pytest.raises(DocumentError) as caught:
        import_catalog("services:\n  - slug: x\n    name: X\n    critcality: low\n")
    assert caught.value.problems[0].startswith("line 4: services[0].critcality")


def test_cycle_through_stored_services_is_rejected(loaded):
    with pytest.raises(DocumentError, match="cycle"):
        import_catalog("services:\n  - {slug: db, name: Database, depends_on: [api]}\n")


def test_console_import_shows_every_problem_and_imports_nothing(demo):
    from atalaia.accounts.models import User
    from conftest import signed_in

    client = signed_in(User.objects.get(username="admin"))
    bad = "services:\n  - {slug: a, name: A, critical: high}\n  - {slug: b, nam: B}\n"
    page = client.post("/services/import/", {"source": bad}).content.decode()
    assert "line 2: services[0].critical: unknown key &#x27;critical&#x27;" in page
    assert "line 3: services[1].nam: unknown key &#x27;nam&#x27;" in page
    assert not Service.objects.filter(slug="a").exists()
    good = "services:\n  - {slug: new-one, name: New <one>, depends_on: [dns]}\n"
    assert client.post("/services/import/", {"source": good}).status_code == 302
    listing = client.get("/services/").content.decode()
    assert "New &lt;one&gt;" in listing and "New <one>" not in listing
    exported = client.get("/services/catalog.yaml").content.decode()
    assert "slug: new-one" in exported
