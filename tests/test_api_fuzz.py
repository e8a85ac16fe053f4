"""Schema-driven fuzzing of the whole API (schemathesis): no input may cause a 500."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from atalaia.wsgi import application

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


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
                           checks=[not_a_server_error])
