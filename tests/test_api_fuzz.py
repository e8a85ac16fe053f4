"""Schema-driven fuzzing of the whole API (schemathesis) with every check it has, as
`--checks all`: no input causes a 5xx, invalid input is refused, and every answer —
errors included — matches what the OpenAPI document declares (status, content type,
headers, body). Deterministic (derandomized, a bounded number of examples)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from atalaia.wsgi import application

pytestmark = pytest.mark.slow

# A schema-valid body may still name a service, person or team that does not exist, or
# break a rule between fields (a maintenance that ends before it starts), which no JSON
# Schema can say: those answers are 400 or 422 by design, so positive data may get them.
# What it may never get is a refusal by the body's own model, which would mean the model
# and its published schema disagree: `model_agrees_with_schema` below checks exactly that.
CONFIG = SchemathesisConfig.from_dict({"checks": {
    "positive_data_acceptance": {"expected-statuses": ["2XX", "3XX", 400, 401, 403, 404,
                                                       409, 422, 429]},
    "negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 406, 409,
                                                      413, 415, 422, 428, 429]},
}})
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=CONFIG)


@schemathesis.check
def model_agrees_with_schema(ctx, response, case):
    """Schema-valid input is never refused for its types or shape (the 422 of the API's
    validation handler, which lists pydantic's `errors`)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code == 422 and "errors" in (response.json() or {}):
        raise AssertionError(f"schema-valid input refused by the model: {response.text}")
    return None


load_all_checks()
ALL_CHECKS = CHECKS.get_all()


@pytest.fixture(autouse=True, scope="module")
def keep_test_connection():
    # Called outside Django's test client, the app would close the database
    # connection at the end of each request, and with it the test transaction.
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(demo, tokens, personas):
    from atalaia.incidents.actions import declare_incident

    # Something to find behind ids 1 (incident, plan version) and the demo slugs.
    declare_incident(personas["commander"], "Fuzzed", ["auth"])
    return tokens["admin"]


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case, admin_token, settings):
    settings.ALLOWED_HOSTS = ["*"]
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"},
                           checks=ALL_CHECKS)
