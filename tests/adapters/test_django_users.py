"""Users in the database: Cognito users as ``AUTH_USER_MODEL`` rows (CognitoBackend on).

A real database (a SQLite file shared by threads, or PostgreSQL with ``DATABASE_URL``), the test
project's ``Order`` model owned by the user, plain, Django-native, async and DRF views, the admin.
"""

from __future__ import annotations

import datetime
import importlib
import json
import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test import AsyncClient, Client, override_settings
from django.test.client import RequestFactory
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases
from django.utils import timezone

from cognito_guard import CognitoVerifier, ConfigurationError
from cognito_guard.issuers import issuers_for
from cognito_guard.testing import OMIT, LocalIssuer

from .django_project import setup

setup()

from django.apps import apps as django_apps  # noqa: E402 - needs setup()
from django.contrib.auth import authenticate, get_user_model  # noqa: E402
from django.contrib.auth.models import Group, Permission  # noqa: E402
from django.core.checks import run_checks  # noqa: E402

from cognito_guard.integrations.django import CognitoMiddleware, CognitoService  # noqa: E402
from cognito_guard.integrations.django.models import CognitoIdentity  # noqa: E402
from cognito_guard.integrations.django.users import (  # noqa: E402
    group_scope_problem,
    identity_cache,
)

from .django_project import users_views  # noqa: E402
from .django_project.shop.models import Order  # noqa: E402

User = get_user_model()
BACKENDS = [
    "cognito_guard.integrations.django.CognitoBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "cognito_guard.integrations.django.CognitoMiddleware",
]
POOL = {"USER_POOL_ID": "us-east-1_LocalPool1", "CLIENT_ID": "local0client0id0123456789a"}


@pytest.fixture(scope="module")
def database() -> Iterator[None]:
    """The test database, migrated once for the module (a file, so threads share it)."""
    state = setup_databases(verbosity=0, interactive=False)
    yield
    teardown_databases(state, verbosity=0)


Configure = Callable[..., Any]


@pytest.fixture
def project(database: None, issuer: LocalIssuer) -> Iterator[Configure]:
    """``project(**COGNITO_GUARD keys)``: the users project, CognitoBackend on; rows wiped after.

    Access and ID tokens are both accepted (``TOKEN_USE`` any), from a verifier of ``issuer``
    (of both its issuer forms), unless ``verifier`` is given.
    """
    stack: list[Any] = []

    def configure(
        backends: list[str] = BACKENDS, verifier: CognitoVerifier | None = None, **keys: Any
    ) -> None:
        manager = override_settings(
            COGNITO_GUARD_VERIFIER=verifier or issuer.verifier(token_use=None),
            COGNITO_GUARD={**POOL, **keys},
            AUTHENTICATION_BACKENDS=backends,
            MIDDLEWARE=MIDDLEWARE,
            ROOT_URLCONF="tests.adapters.django_project.users_urls",
        )
        manager.enable()
        stack.append(manager)

    configure()
    yield configure
    for manager in reversed(stack):
        manager.disable()
    Order.objects.all().delete()
    CognitoIdentity.objects.all().delete()
    User.objects.all().delete()
    Group.objects.all().delete()
    identity_cache.clear()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get(path: str, token: str, client: Client | None = None) -> Any:
    return (client or Client()).get(path, headers=bearer(token))


# -- the link -------------------------------------------------------------------------------------


def test_first_token_creates_a_linked_user_and_keeps_the_claims(
    project: Configure, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(username="alice", sub="sub-alice")
    response = get("/me", token)
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["username"], body["is_service"]) == ("User", "alice", False)
    identity = CognitoIdentity.objects.get(sub="sub-alice")
    assert identity.issuer == issuer.issuer and identity.user.pk == body["pk"]
    assert not identity.user.has_usable_password()  # signs in through Cognito only
    assert get("/whoami", token).json() == {"authenticated": True, "cognito": True}
    assert User.objects.count() == 1  # the second and third requests found the same row


def _user_pk_query(sql: str) -> bool:
    table = connection.ops.quote_name(User._meta.db_table)
    return f"FROM {table} WHERE" in sql and "cognito_guard_cognitoidentity" not in sql


def test_a_cached_link_costs_one_primary_key_query_per_request(
    project: Configure, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(username="alice")
    client = Client()
    assert get("/me", token, client).status_code == 200  # creates the row and caches the link
    for path in ("/claims", "/whoami", "/claims"):
        with CaptureQueriesContext(connection) as warm:
            assert get(path, token, client).status_code == 200
        # The row is read by primary key to judge is_active, and nothing else: no identity lookup,
        # and request.user is that row (a view using it costs nothing more).
        assert len(warm.captured_queries) == 1, warm.captured_queries
        assert _user_pk_query(warm.captured_queries[0]["sql"])
    with CaptureQueriesContext(connection) as unprotected:
        assert Client().get("/whoami").json() == {"authenticated": False, "cognito": False}
    assert unprotected.captured_queries == []


def test_username_taken_by_an_unlinked_local_user_is_never_that_user(
    project: Configure, issuer: LocalIssuer
) -> None:
    local = User.objects.create_user("alice", email="alice@example.com", password="local-pw")
    token = issuer.id_token(username="alice", email="alice@example.com", sub="sub-cognito-alice")
    body = get("/me", token).json()
    assert body["pk"] != local.pk
    assert body["username"] == "alice-2"
    local.refresh_from_db()
    assert local.check_password("local-pw") and not local.cognito_identities.exists()
    # Another Cognito user named alice (another sub) gets yet another row.
    other = get("/me", issuer.access_token(username="alice", sub="sub-other-alice")).json()
    assert other["username"] == "alice-3" and other["pk"] not in (local.pk, body["pk"])


def updated_form(issuer: LocalIssuer) -> str:
    """The pool's other issuer spelling, which the verifier accepts as well as ``issuer.issuer``."""
    return issuers_for(issuer.user_pool_id, "updated")[0]


def test_both_issuer_forms_of_a_pool_are_one_user(project: Configure, issuer: LocalIssuer) -> None:
    project(SYNC_GROUPS=True)
    original = issuer.access_token(username="bob", sub="sub-bob", groups=["editors"])
    first = get("/me", original).json()
    user = User.objects.get()
    user.groups.add(Group.objects.create(name="local-staff"))  # given in Django, not Cognito
    other = issuer.access_token(
        username="bob", sub="sub-bob", groups=["editors"], iss=updated_form(issuer)
    )
    second = get("/me", other).json()
    assert (second["pk"], second["username"]) == (first["pk"], "bob")  # not a new "bob-2"
    assert second["groups"] == ["editors", "local-staff"]  # nothing lost
    assert User.objects.count() == 1
    assert CognitoIdentity.objects.get().issuer == issuer.issuer  # one link, the canonical form


def test_a_deactivated_user_stays_refused_in_the_other_issuer_form(
    project: Configure, issuer: LocalIssuer
) -> None:
    assert get("/me", issuer.access_token(username="bob", sub="sub-bob")).status_code == 200
    User.objects.filter(username="bob").update(is_active=False)  # an administrator's decision
    other = issuer.access_token(username="bob", sub="sub-bob", iss=updated_form(issuer))
    response = get("/me", other)
    assert response.status_code == 403 and response.json()["error"] == "inactive_user"
    assert list(User.objects.values_list("username", "is_active")) == [("bob", False)]


def test_a_link_written_in_the_updated_form_is_found(
    project: Configure, issuer: LocalIssuer
) -> None:
    # A link made by hand (a data migration's bulk_create skips save()) in the other form.
    known = User.objects.create_user("frank")
    CognitoIdentity.objects.bulk_create(
        [CognitoIdentity(user=known, issuer=updated_form(issuer), sub="sub-frank")]
    )
    assert get("/me", issuer.access_token(username="frank", sub="sub-frank")).json()["pk"] == (
        known.pk
    )
    assert User.objects.count() == 1


def _migration() -> Any:
    return importlib.import_module(
        "cognito_guard.integrations.django.migrations.0002_canonical_issuer"
    )


def test_the_migration_rewrites_old_links_and_keeps_the_older_of_two(
    project: Configure, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    canonical, updated = issuer.issuer, updated_form(issuer)
    emulator = "http://127.0.0.1:9229/us-east-1_Local1"
    users = {name: User.objects.create_user(name) for name in ("ann", "carl", "carl-2", "dee")}
    users["dee-2"] = User.objects.create_user("dee-2", password="set-by-an-admin")
    old_rows = [  # (user, issuer, sub) as migration 0001 stores them: the raw iss
        ("ann", updated, "sub-ann"),
        ("carl", updated, "sub-carl"),  # older, the updated form
        ("carl-2", canonical, "sub-carl"),  # newer, the canonical form
        ("dee", canonical, "sub-dee"),  # older, the canonical form
        ("dee-2", updated, "sub-dee"),  # newer, the updated form
        ("ann", emulator, "sub-ann"),  # not a Cognito issuer: left as it is
    ]
    rows = CognitoIdentity.objects.bulk_create(
        [CognitoIdentity(user=users[u], issuer=i, sub=s) for u, i, s in old_rows]
    )
    start = timezone.now() - datetime.timedelta(days=1)
    for age, row in enumerate(rows):  # created in this order, a minute apart
        row_start = start + datetime.timedelta(minutes=age)
        CognitoIdentity.objects.filter(pk=row.pk).update(created_at=row_start)

    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        _migration().canonicalise_issuers(django_apps, None)

    links = sorted(
        (i.user.username, i.issuer, i.sub) for i in CognitoIdentity.objects.select_related("user")
    )
    assert links == [
        ("ann", emulator, "sub-ann"),
        ("ann", canonical, "sub-ann"),
        ("carl", canonical, "sub-carl"),
        ("dee", canonical, "sub-dee"),
    ]
    # The newer duplicates are unlinked, never deleted nor merged, and each is reported.
    assert User.objects.filter(username__in=["carl-2", "dee-2"]).count() == 2
    assert User.objects.get(username="dee-2").check_password("set-by-an-admin")
    warned = [r.getMessage() for r in caplog.records if "two links" in r.getMessage()]
    assert len(warned) == 2
    assert f"user pk={users['carl-2'].pk} is unlinked" in " ".join(warned)
    assert f"user pk={users['dee-2'].pk} is unlinked" in " ".join(warned)
    # Tokens of either form now reach the kept rows.
    for iss in (canonical, updated):
        token = issuer.access_token(username="carl", sub="sub-carl", iss=iss)
        assert get("/me", token).json()["pk"] == users["carl"].pk
    _migration().canonicalise_issuers(django_apps, None)  # a second run changes nothing
    assert CognitoIdentity.objects.count() == 4


def test_machine_tokens_are_a_service_principal_without_a_row(
    project: Configure, issuer: LocalIssuer
) -> None:
    token = issuer.m2m_token(scopes=["orders/read"])
    body = get("/me", token).json()
    assert body == {"pk": issuer.client_id, "username": issuer.client_id, "is_service": True}
    drf = get("/drf/me", token).json()
    assert drf["is_service"] is True
    assert User.objects.count() == 0 and CognitoIdentity.objects.count() == 0


def test_id_tokens_update_the_profile_and_access_tokens_leave_it(
    project: Configure, issuer: LocalIssuer
) -> None:
    names = {"given_name": "Alice", "family_name": "Liddell"}
    get("/me", issuer.id_token(username="alice", email="a@example.com", claims=names))
    user = User.objects.get()
    assert (user.email, user.first_name, user.last_name) == ("a@example.com", "Alice", "Liddell")
    get("/me", issuer.id_token(username="alice", email="new@example.com", claims=names))
    user.refresh_from_db()
    assert user.email == "new@example.com"  # a changed profile misses the cache and is saved
    get("/me", issuer.access_token(username="alice"))
    user.refresh_from_db()
    assert (user.email, user.first_name) == ("new@example.com", "Alice")


@pytest.mark.parametrize(
    ("verified", "copied"),
    [(True, True), ("true", True), (False, False), ("false", False), (OMIT, False), ("1", False)],
    ids=["true", "string-true", "false", "string-false", "absent", "string-1"],
)
def test_only_a_verified_email_is_copied(
    project: Configure, issuer: LocalIssuer, verified: Any, copied: bool
) -> None:
    # Whoever signs up in the pool chooses their email: unverified, it may be someone else's
    # (and Django sends password resets and notices to user.email).
    names = {"given_name": "Mallory"}
    created = issuer.id_token(
        username="mal", email="victim@example.com", email_verified=verified, claims=names
    )
    assert get("/me", created).status_code == 200
    user = User.objects.get()
    assert user.email == ("victim@example.com" if copied else "")
    assert user.first_name == "Mallory"  # the rest of the profile is copied either way
    # On an existing user too: a changed address is copied only once verified.
    proven = issuer.id_token(username="mal", email="mal@example.com", email_verified=True)
    get("/me", proven)
    changed = issuer.id_token(
        username="mal", email="victim2@example.com", email_verified=verified, claims=names
    )
    get("/me", changed)
    user.refresh_from_db()
    assert user.email == ("victim2@example.com" if copied else "mal@example.com")


def test_user_mapper_fills_fields_on_creation_and_on_a_new_token(
    project: Configure, issuer: LocalIssuer
) -> None:
    project(USER_MAPPER="tests.adapters.django_project.users_views.department_mapper")
    get("/me", issuer.access_token(username="bob", claims={"custom:department": "sales"}))
    assert User.objects.get().last_name == "sales"
    get("/me", issuer.access_token(username="bob", claims={"custom:department": "ops"}))
    assert User.objects.get().last_name == "ops"


# -- groups ---------------------------------------------------------------------------------------


def test_sync_groups_sets_the_cognito_groups_and_leaves_local_ones(
    project: Configure, issuer: LocalIssuer
) -> None:
    project(SYNC_GROUPS=True)
    get("/me", issuer.access_token(username="carol", groups=["admins", "editors"]))
    user = User.objects.get()
    local = Group.objects.create(name="local-staff")
    user.groups.add(local)
    body = get("/me", issuer.access_token(username="carol", groups=["editors"])).json()
    assert body["groups"] == ["editors", "local-staff"]
    assert CognitoIdentity.objects.get().synced_groups == ["editors"]
    body = get("/me", issuer.access_token(username="carol", groups=[])).json()
    assert body["groups"] == ["local-staff"]


def test_synced_groups_carry_their_permissions(project: Configure, issuer: LocalIssuer) -> None:
    project(SYNC_GROUPS=True)
    auditors = Group.objects.create(name="auditors")
    auditors.permissions.add(Permission.objects.get(codename="view_order"))
    assert get("/all-orders", issuer.access_token(username="dan", groups=["auditors"])).json() == {
        "count": 0
    }
    assert get("/all-orders", issuer.access_token(username="dan", groups=[])).status_code == 403


def two_pools(issuer: LocalIssuer, other: LocalIssuer) -> CognitoVerifier:
    """A verifier of two tenants' pools (each with its own client), ID and access tokens."""
    return CognitoVerifier(
        user_pool_id=[issuer.user_pool_id, other.user_pool_id],
        client_id={issuer.user_pool_id: issuer.client_id, other.user_pool_id: other.client_id},
        token_use=None,
        jwks={"keys": [*issuer.jwks["keys"], *other.jwks["keys"]]},
    )


def test_with_several_pools_synced_groups_are_scoped_by_pool(
    project: Configure, issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    # The site's own "admins" group, with a permission, as an administrator made it.
    admins = Group.objects.create(name="admins")
    admins.permissions.add(Permission.objects.get(codename="view_order"))
    pool_a, pool_b = issuer.user_pool_id, other_issuer.user_pool_id
    # One pool: bare names, as always.
    project(SYNC_GROUPS=True)
    token_a = issuer.access_token(username="ann", sub="sub-ann", groups=["admins"])
    assert get("/me", token_a).json()["groups"] == ["admins"]
    # Two pools: a tenant's administrators name their groups, so every name is the pool's own.
    project(SYNC_GROUPS=True, verifier=two_pools(issuer, other_issuer))
    identity_cache.clear()
    hostile = other_issuer.access_token(
        username="mallory", sub="sub-mallory", groups=["admins", f"{pool_a}/admins"]
    )
    response = get("/me", hostile)
    assert response.status_code == 200
    assert response.json()["groups"] == [f"{pool_b}/admins", f"{pool_b}/{pool_a}/admins"]
    assert get("/all-orders", hostile).status_code == 403  # not the site's admins' permission
    assert not User.objects.get(username="mallory").groups.filter(name="admins").exists()
    # Pool A's user moves from the bare name to its pool's: the Cognito-synced "admins" is
    # taken away (the site grants permissions to f"{pool_a}/admins" from now on).
    assert get("/me", token_a).json()["groups"] == [f"{pool_a}/admins"]
    assert sorted(Group.objects.get(name=f"{pool_a}/admins").user_set.values_list("username")) == [
        ("ann",)
    ]


def test_sync_groups_refuses_pools_it_cannot_tell_apart(issuer: LocalIssuer) -> None:
    verifier = CognitoVerifier(
        issuer=["http://127.0.0.1:9229/tenant-a", "http://127.0.0.1:9230/tenant-b"],
        client_id=issuer.client_id,
        jwks=issuer.jwks,
    )
    settings = {"COGNITO_GUARD_VERIFIER": verifier, "COGNITO_GUARD": {**POOL, "SYNC_GROUPS": True}}
    assert _ids(**settings) == ["cognito_guard.E006"]
    with (
        override_settings(**settings, AUTHENTICATION_BACKENDS=BACKENDS),
        pytest.raises(ConfigurationError, match=r"names no user pool id.*POOL_ID/group"),
    ):
        CognitoMiddleware(lambda r: None)  # type: ignore[arg-type, return-value]
    assert _ids(COGNITO_GUARD_VERIFIER=verifier) == []  # without SYNC_GROUPS, nothing to scope
    same = "us-east-1_Same1"
    twice = [f"http://127.0.0.1:9229/{same}", issuers_for(same, "original")[0]]
    assert "the same pool id 'us-east-1_Same1'" in (group_scope_problem(twice) or "")
    assert group_scope_problem(issuers_for(same)) is None  # both forms: one pool, bare names


def test_without_sync_groups_cognito_groups_are_not_copied(
    project: Configure, issuer: LocalIssuer
) -> None:
    assert (
        get("/me", issuer.access_token(username="erin", groups=["admins"])).json()["groups"] == []
    )
    assert not Group.objects.exists()


# -- refusals -------------------------------------------------------------------------------------


def test_create_users_off_refuses_an_unknown_user_with_403(
    project: Configure, issuer: LocalIssuer
) -> None:
    project(CREATE_USERS=False)
    token = issuer.access_token(username="frank", sub="sub-frank")
    for path in ("/me", "/drf/me"):
        response = get(path, token)
        assert response.status_code == 403
        assert response.json()["error"] == "unknown_user"
        assert "no account" in response.json()["error_description"]
    assert not User.objects.exists()
    # A user linked beforehand (by an administrator, or before CREATE_USERS was turned off) is in.
    known = User.objects.create_user("frank")
    CognitoIdentity.objects.create(user=known, issuer=issuer.issuer, sub="sub-frank")
    assert get("/me", token).json()["pk"] == known.pk


def test_a_deactivated_user_is_refused_whatever_the_token_says(
    project: Configure, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(username="gina", scopes=["orders/write"], groups=["admins"])
    assert get("/me", token).status_code == 200  # links and caches
    user = User.objects.get(username="gina")
    user.is_active = False
    user.save()  # post_save drops the cached link at once
    for path, method in (("/me", "get"), ("/orders", "post"), ("/drf/me", "get")):
        response = getattr(Client(), method)(path, headers=bearer(token))
        assert response.status_code == 403, path
        assert response.json()["error"] == "inactive_user"
    # Unprotected views see an anonymous request, not the deactivated user.
    assert get("/whoami", token).json() == {"authenticated": False, "cognito": False}
    assert get("/profile", token).status_code == 302  # login_required sends it to the login page


def test_a_deactivation_anywhere_refuses_the_very_next_request(
    project: Configure, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(username="gus", scopes=["orders/write"])
    client = Client()
    assert get("/me", token, client).status_code == 200  # links and caches the link
    assert get("/me", token, client).status_code == 200  # served from the cached link
    # QuerySet.update sends no signal: as a deactivation by another process looks to this one.
    User.objects.filter(username="gus").update(is_active=False)
    for path, method in (("/me", "get"), ("/orders", "post"), ("/drf/me", "get")):
        response = getattr(client, method)(path, headers=bearer(token))
        assert response.status_code == 403, path
        assert response.json()["error"] == "inactive_user"
    assert get("/whoami", token, client).json() == {"authenticated": False, "cognito": False}
    User.objects.filter(username="gus").update(is_active=True)
    assert get("/me", token, client).status_code == 200  # and a reactivation is as quick


def test_a_deleted_user_is_not_served_from_the_cache(
    project: Configure, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(username="hal", sub="sub-hal")
    first = get("/me", token).json()["pk"]
    User.objects.filter(pk=first).delete()  # cascades to the identity; both signals fire
    second = get("/me", token).json()
    assert second["pk"] != first and second["username"] == "hal"


# -- Django-native views, DRF, async --------------------------------------------------------------


def test_orders_are_owned_by_request_user_across_view_kinds(
    project: Configure, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(username="ivy", scopes=["orders/write"])
    created = Client().post("/orders?item=lamp", headers=bearer(token))
    assert created.status_code == 201
    user = User.objects.get(username="ivy")
    assert created.json()["owner"] == user.pk
    drf = Client().post("/drf/me", headers=bearer(token))
    assert drf.status_code == 201 and drf.json()["owner"] == user.pk
    assert get("/drf/me", token).json()["pk"] == user.pk  # DRF's request.user is the same row
    assert get("/profile", token).json() == {"orders": ["lamp", "drf"]}  # login_required lets in
    assert sorted(Order.objects.filter(owner=user).values_list("item", flat=True)) == [
        "drf",
        "lamp",
    ]


def test_login_required_redirects_without_a_token(project: Configure) -> None:
    assert Client().get("/profile").status_code == 302


@pytest.fixture
async def async_db(project: Configure) -> AsyncIterator[None]:
    """Closes the connection the ORM's async calls opened in their worker thread, afterwards.

    Outside a request nothing else closes it, and PostgreSQL refuses to drop the test database
    while it is open.
    """
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.anyio
async def test_async_stack_links_the_user_and_owns_orders(
    async_db: None, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(username="jay")
    client = AsyncClient()
    first = await client.get("/async-me", headers=bearer(token))  # creates, in a thread
    second = await client.get("/async-me", headers=bearer(token))  # cached link, auser() loads
    assert first.status_code == second.status_code == 200
    assert first.json()["pk"] == second.json()["pk"] == first.json()["order_owner"]
    assert await User.objects.filter(username="jay").acount() == 1
    assert await Order.objects.filter(owner_id=first.json()["pk"]).acount() == 2


@pytest.mark.anyio
async def test_async_stack_refuses_a_deactivated_user(async_db: None, issuer: LocalIssuer) -> None:
    token = issuer.access_token(username="kim")
    assert (await AsyncClient().get("/async-me", headers=bearer(token))).status_code == 200
    # QuerySet.update sends no signal, and still the next request reads the row and refuses.
    await User.objects.filter(username="kim").aupdate(is_active=False)
    response = await AsyncClient().get("/async-me", headers=bearer(token))
    assert response.status_code == 403 and response.json()["error"] == "inactive_user"


def test_without_the_backend_nothing_changes(project: Configure, issuer: LocalIssuer) -> None:
    project(backends=["django.contrib.auth.backends.ModelBackend"])
    token = issuer.access_token(username="lee")
    assert get("/whoami", token).json() == {"authenticated": False, "cognito": True}
    from cognito_guard.integrations.django import CognitoUser

    with override_settings(ROOT_URLCONF="tests.adapters.django_project.drf_urls"):
        assert get("/plain", token).json() == {"user": "lee"}
    assert CognitoMiddleware(lambda r: None).users is None  # type: ignore[arg-type, return-value]
    assert not User.objects.exists() and not CognitoIdentity.objects.exists()
    assert CognitoUser.is_service is False and CognitoService.is_service is True


def test_the_backend_works_through_django_authenticate(
    project: Configure, issuer: LocalIssuer
) -> None:
    claims = issuer.verifier().verify(issuer.access_token(username="max"))
    user = authenticate(RequestFactory().get("/"), cognito_claims=claims)
    assert user is not None and user.get_username() == "max"
    assert authenticate(None, username="max", password="anything") is None  # no password
    machine = issuer.verifier().verify(issuer.m2m_token())
    assert authenticate(None, cognito_claims=machine) is None


# -- concurrency ----------------------------------------------------------------------------------


def test_two_first_requests_at_once_create_one_row(
    project: Configure, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    # The mapper holds each creation until both requests have looked and found no identity, so
    # the two inserts really race; the loser rolls back and takes the winner's row.
    project(USER_MAPPER="tests.adapters.django_project.users_views.racing_mapper")
    users_views.creation_barrier.reset()
    handler = WSGIHandler()
    token = issuer.access_token(username="nora", sub="sub-nora")
    results: list[Any] = []

    def first_request() -> None:
        try:
            request = RequestFactory().get("/me", headers=bearer(token))
            results.append(handler.get_response(request))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first_request) for _ in range(2)]
    with caplog.at_level(logging.INFO, logger="cognito_guard"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert "lost a race" in caplog.text  # the retry on the integrity error ran
    assert [r.status_code for r in results] == [200, 200]
    assert len({json.loads(r.content)["pk"] for r in results}) == 1
    assert User.objects.count() == 1 and CognitoIdentity.objects.count() == 1


# -- the admin ------------------------------------------------------------------------------------


def test_the_admin_shows_the_linked_identity(project: Configure, issuer: LocalIssuer) -> None:
    get("/me", issuer.access_token(username="olga", sub="sub-of-olga"))
    user = User.objects.get(username="olga")
    admin = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)
    page = client.get(f"/admin/auth/user/{user.pk}/change/")
    assert page.status_code == 200
    assert b"sub-of-olga" in page.content and issuer.issuer.encode() in page.content
    listing = client.get("/admin/cognito_guard/cognitoidentity/", {"q": "olga"})
    assert listing.status_code == 200 and b"sub-of-olga" in listing.content


# -- settings and checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"CREATE_USERS": "yes"}, "CREATE_USERS"),
        ({"SYNC_GROUPS": 1}, "SYNC_GROUPS"),
        ({"USER_MAPPER": "tests.adapters.django_project.users_views.missing"}, "USER_MAPPER"),
        ({"USER_MAPPER": 42}, "USER_MAPPER"),
    ],
    ids=["create-users-str", "sync-groups-int", "mapper-missing", "mapper-not-callable"],
)
def test_invalid_user_settings_fail_at_startup_and_in_checks(
    keys: dict[str, Any], message: str
) -> None:
    with override_settings(COGNITO_GUARD={**POOL, **keys}, AUTHENTICATION_BACKENDS=BACKENDS):
        with pytest.raises(ConfigurationError, match=message):
            CognitoMiddleware(lambda r: None)  # type: ignore[arg-type, return-value]
        errors = [m for m in run_checks() if m.id == "cognito_guard.E001"]
        # With an injected verifier COGNITO_GUARD still holds these keys: still reported, once.
        with override_settings(
            COGNITO_GUARD_VERIFIER="tests.adapters.django_project.verifiers.local_verifier"
        ):
            injected = [m for m in run_checks() if m.id == "cognito_guard.E001"]
    assert len(errors) == 1 and message in errors[0].msg
    assert len(injected) == 1 and message in injected[0].msg


def test_user_settings_pass_the_shared_loader(issuer: LocalIssuer) -> None:
    keys = {"CREATE_USERS": False, "SYNC_GROUPS": True, "USER_MAPPER": None}
    with override_settings(COGNITO_GUARD={**POOL, **keys}):
        assert CognitoMiddleware(lambda r: None).guard  # type: ignore[arg-type, return-value]


def _ids(**overrides: Any) -> list[str]:
    values = {"AUTHENTICATION_BACKENDS": BACKENDS, "MIDDLEWARE": MIDDLEWARE, **overrides}
    with override_settings(**values):
        return [str(m.id) for m in run_checks() if str(m.id).startswith("cognito_guard.")]


def test_checks_pass_with_the_backend_on() -> None:
    assert _ids() == []


def test_check_backend_without_the_app() -> None:
    apps_without = [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "cognito_guard.integrations.django.CognitoGuardConfig",
    ]
    assert _ids(INSTALLED_APPS=apps_without) == ["cognito_guard.E002"]
    with (
        override_settings(INSTALLED_APPS=apps_without, AUTHENTICATION_BACKENDS=BACKENDS),
        pytest.raises(ConfigurationError, match="INSTALLED_APPS"),
    ):
        CognitoMiddleware(lambda r: None)  # type: ignore[arg-type, return-value]


def test_check_missing_migration() -> None:
    assert _ids(MIGRATION_MODULES={"cognito_guard": None}) == ["cognito_guard.E003"]
    missing = {"cognito_guard": "tests.adapters.django_project.shop.no_such_migrations"}
    assert _ids(MIGRATION_MODULES=missing) == ["cognito_guard.E003"]


def test_check_user_model_without_a_fillable_username() -> None:
    assert _ids(AUTH_USER_MODEL="shop.EmailUser") == ["cognito_guard.E004"]
    mapper = {**POOL, "USER_MAPPER": "tests.adapters.django_project.users_views.racing_mapper"}
    assert _ids(AUTH_USER_MODEL="shop.EmailUser", COGNITO_GUARD=mapper) == []
    groups = {**POOL, "SYNC_GROUPS": True, "USER_MAPPER": mapper["USER_MAPPER"]}
    assert _ids(AUTH_USER_MODEL="shop.EmailUser", COGNITO_GUARD=groups) == ["cognito_guard.E005"]


def test_check_authentication_middleware_after_ours() -> None:
    late = [m for m in MIDDLEWARE if "AuthenticationMiddleware" not in m]
    late.append("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert _ids(MIDDLEWARE=late) == ["cognito_guard.W002"]


LEGACY_PROJECT = """
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["cognito_guard.integrations.django.CognitoGuardConfig"],
    DATABASES={},
    COGNITO_GUARD={"USER_POOL_ID": "eu-west-1_AbCdEf123", "CLIENT_ID": "abc"},
    MIDDLEWARE=["cognito_guard.integrations.django.CognitoMiddleware"],
)
import cognito_guard.integrations.django as adapter  # before setup: must not need the registry

django.setup()
from django.apps import apps
from django.core.management import call_command

config = apps.get_app_config("cognito_guard")
assert type(config).__name__ == "CognitoGuardConfig", config
assert list(config.get_models()) == [], "the checks-only app must not install the model"
call_command("check")
assert "CognitoBackend" in adapter.__all__  # a lazy name: resolved only when used
"""


def test_the_checks_only_app_still_works_without_auth_or_a_database() -> None:
    # A project set up before users in the database existed: no django.contrib.auth, no DB.
    result = subprocess.run(  # noqa: S603 - this file's own script
        [sys.executable, "-c", LEGACY_PROJECT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout + result.stderr
