"""The API as clients would test it: schemathesis generates requests for every operation of
the OpenAPI schema (valid ones and, negative mode, ones that break it: wrong types, missing
fields, bodies the schema refuses, odd headers) and checks that none is answered 5xx, that
every status, content type, header and body is the one the schema documents, and that a call
the schema refuses is refused.

MAX_EXAMPLES per operation (fuzzing, valid and negative data) keeps the run near a minute on
two cores: about 1,700 requests over the 83 operations. For a longer run, raise
SCHEMATHESIS_MAX_EXAMPLES, and SCHEMATHESIS_COVERAGE=1 adds schemathesis's coverage phase
(every boundary and every kind of invalid value of each parameter: about four times longer).
"""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis import checks as basic_checks
from schemathesis.specs.openapi import checks as openapi_checks

from api import keys, scopes
from tests.api.conftest import user_in
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    SignupFormFactory,
    TargetListEntryFactory,
    TrackingUrlFactory,
)

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"))
CHECKS = [
    basic_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
]

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
schema.config.phases.coverage.enabled = os.environ.get("SCHEMATHESIS_COVERAGE") == "1"


@pytest.fixture(scope="module")
def requests_made():
    """The generated requests, counted (shown with pytest -s)."""
    made = []
    yield made
    print(f"\nschemathesis: {len(made)} requests over {len(set(made))} operations")


@pytest.fixture
def wsgi_in_test_transaction():
    """Requests reach the app straight through WSGI, which closes the database connection
    when a request ends: not while the test's transaction holds it (as Django's test client)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def key(db, wsgi_in_test_transaction) -> str:
    """An administrator's key with every scope and no practical rate limit, and a few records
    of each kind (ids 1, 2, …) for generated ids to find."""
    for _ in range(2):
        entry = TargetListEntryFactory()
        mass_email = MassEmailFactory(
            campaign=CampaignFactory(), email_template=EmailTemplateFactory()
        )
        mass_email.target_lists.add(entry.target_list)
        TrackingUrlFactory(campaign=mass_email.campaign)
        SignupFormFactory(campaign=mass_email.campaign)
        ContactFactory(external_id=f"crm-{entry.pk}")
    owner = user_in("Administrators")
    return keys.create_key("schemathesis", owner, list(scopes.SCOPES), rate_per_minute=10**9).key


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(case, key, requests_made):
    requests_made.append(case.operation.label)
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
