"""Login safety: lockouts after failed admin logins (django-axes), administrators clearing
them, and the demo logins kept out of production."""

import os

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import checks
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.crm.test_deploy_check import PRODUCTION_ENV, manage
from tests.factories import MarketerFactory, UserFactory

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


def log_in(client, username: str, password: str, address: str = "203.0.113.5"):
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post(LOGIN, data, REMOTE_ADDR=address)


@pytest.fixture
def staff():
    user = UserFactory(username="ann", is_staff=True)
    user.set_password("the-right-password")
    user.save()
    return user


def test_it_locks_a_user_name_after_five_failures_even_for_the_right_password(staff):
    client = Client()
    answers = [log_in(client, "ann", f"wrong-{n}", f"203.0.113.{n}").status_code for n in range(5)]

    locked = log_in(client, "ann", "the-right-password", "198.51.100.7")

    assert answers == [200, 200, 200, 200, 429]  # the fifth failure locks
    assert locked.status_code == 429
    body = locked.content.decode()
    assert "locked for 15 minutes" in body
    assert 'id="lockout-advice"' in body
    assert "_auth_user_id" not in client.session


def test_it_lets_the_fourth_failure_still_log_in_with_the_right_password(staff):
    client = Client()
    for attempt in range(4):
        log_in(client, "ann", f"wrong-{attempt}")

    assert log_in(client, "ann", "the-right-password").status_code == 302
    assert not AccessAttempt.objects.exists()  # a success resets the count


def test_it_locks_a_client_address_that_tries_many_user_names(staff):
    client = Client()
    for name in ("bo", "cy", "di", "ed", "fay"):
        log_in(client, name, "guess", "192.0.2.9")

    assert log_in(client, "ann", "the-right-password", "192.0.2.9").status_code == 429
    assert log_in(Client(), "ann", "the-right-password", "192.0.2.10").status_code == 302


def test_it_says_so_in_spanish(staff):
    client = Client(headers={"accept-language": "es"})
    for attempt in range(5):
        log_in(client, "ann", f"wrong-{attempt}")

    body = log_in(client, "ann", "wrong").content.decode()

    assert "bloqueado durante 15 minutos" in body


def test_an_administrator_sees_and_clears_a_lockout_and_a_marketer_cannot(staff, admin_client):
    for attempt in range(5):
        log_in(Client(), "ann", f"wrong-{attempt}")
    attempt = AccessAttempt.objects.get(username="ann")
    changelist = reverse("admin:axes_accessattempt_changelist")
    marketer = Client()
    marketer.force_login(MarketerFactory())

    listed = admin_client.get(changelist)
    admin_client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )

    assert "ann" in listed.content.decode()
    assert marketer.get(changelist).status_code == 403
    assert log_in(Client(), "ann", "the-right-password").status_code == 302


def test_an_administrator_in_the_group_may_clear_lockouts():
    user = UserFactory(is_staff=True)
    user.groups.add(get_user_model().groups.rel.model.objects.get(name="Administrators"))

    assert user.has_perm("axes.delete_accessattempt")
    assert not MarketerFactory().has_perm("axes.view_accessattempt")


def test_it_uses_the_address_the_trusted_proxy_recorded(settings, staff):
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client()
    for attempt in range(5):
        forwarded = f"10.9.9.9, 192.0.2.{attempt}"  # the first entry is the client's own claim
        client.post(
            LOGIN,
            {"username": f"user{attempt}", "password": "x"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    # Five different clients behind one proxy: none of them is locked out.
    assert AccessAttempt.objects.filter(ip_address="10.0.0.1").count() == 0
    assert log_in(client, "ann", "the-right-password", "10.0.0.1").status_code == 302


def test_it_warns_in_production_while_a_demo_password_is_unchanged(settings):
    settings.DEBUG = False
    admin = UserFactory(username="admin")
    admin.set_password("admin")
    admin.save()
    marketer = UserFactory(username="marketer")
    marketer.set_password("a-real-password")
    marketer.save()

    found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])

    warnings = [message for message in found if message.id == "crm.W001"]
    assert [message.obj for message in warnings] == [admin]
    on_migrate = checks.run_checks(tags=[checks.Tags.security], databases=["default"])
    assert [m.obj for m in on_migrate if m.id == "crm.W001"] == [admin]
    assert not [m for m in checks.run_checks() if m.id == "crm.W001"]  # e.g. the jobs' commands
    settings.DEBUG = True
    found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
    assert not [message for message in found if message.id == "crm.W001"]


def test_load_demo_data_exits_non_zero_with_debug_off():
    result = manage("load_demo_data", env={**os.environ, **PRODUCTION_ENV})

    assert result.returncode == 1
    assert "DEBUG is off" in result.stderr
    assert "admin/admin" in result.stderr


def test_the_lockout_pages_of_the_admin_speak_spanish(admin_client):
    response = admin_client.get(
        reverse("admin:axes_accessattempt_changelist"), HTTP_ACCEPT_LANGUAGE="es"
    )

    assert "Intentos de acceso" in response.content.decode()


def test_it_answers_a_login_with_over_long_values_with_the_form(staff):
    long_values = {"username": "u" * 10_000, "password": "p" * 10_000}

    response = Client().post(
        LOGIN, long_values, HTTP_USER_AGENT="A" * 10_000, HTTP_ACCEPT="t/x" * 5000
    )

    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    assert AccessAttempt.objects.get().username == "u" * 255


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    username=st.text(max_size=400),
    password=st.text(max_size=100),
    user_agent=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=600),
)
def test_any_login_attempt_gets_the_form_or_the_lockout_page(username, password, user_agent):
    response = Client().post(
        LOGIN, {"username": username, "password": password}, HTTP_USER_AGENT=user_agent
    )

    assert response.status_code in (200, 400, 429)
