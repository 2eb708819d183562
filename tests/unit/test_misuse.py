"""Misuse of the core API is refused where it is written, never turned into an open door.

Each test names one plausible mistake and checks the ConfigurationError (type and the fix it
names), or, for rejections only a request can show, the log record an operator would look for.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cognito_guard import (
    CognitoVerifier,
    ConfigurationError,
    InvalidAudienceError,
    InvalidClientError,
    InvalidIssuerError,
    KeysUnavailableError,
    MissingTokenError,
)
from cognito_guard.bearer import BearerGuard, Requirement
from cognito_guard.config import check_setting_names, verifier_from_env, verifier_from_settings
from cognito_guard.rules import PathRules
from cognito_guard.testing import LocalIssuer

POOL = "eu-west-1_AbCdEf123"

# -- the verifier -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"scopes": "orders/read orders/write"}, "scopes=['orders/read', 'orders/write']"),
        ({"scopes": ["orders/read orders/write"]}, "scopes=['orders/read', 'orders/write']"),
        ({"scopes": ["orders/read\t"]}, "scopes=['orders/read']"),
        ({"groups": "admins staff"}, "groups=['admins', 'staff']"),
    ],
)
def test_verifier_refuses_several_names_in_one_string(options: dict[str, Any], fix: str) -> None:
    with pytest.raises(ConfigurationError, match="whitespace") as caught:
        CognitoVerifier(user_pool_id=POOL, client_id="abc", **options)
    assert fix in str(caught.value)


@pytest.mark.parametrize("value", [{"orders/read": True}, 42, b"orders/read"])
def test_verifier_refuses_scopes_that_are_not_strings_or_lists(value: object) -> None:
    with pytest.raises(ConfigurationError, match="a string or a list of strings"):
        CognitoVerifier(user_pool_id=POOL, client_id="abc", scopes=value)  # type: ignore[arg-type]


def test_a_lone_group_string_is_one_group() -> None:
    verifier = CognitoVerifier(user_pool_id=POOL, client_id="abc", groups="admins")
    assert verifier.groups == {"admins"}


@pytest.mark.parametrize("token_use", ["any", None])
def test_token_use_any_means_either_everywhere(token_use: str | None) -> None:
    issuer = LocalIssuer(POOL)
    verifier = issuer.verifier(token_use=token_use)
    assert verifier.token_use is None
    assert verifier.verify(issuer.access_token()).token_use == "access"
    assert verifier.verify(issuer.id_token()).token_use == "id"


def test_token_use_any_in_the_settings_is_the_same_as_in_the_verifier() -> None:
    from_settings = verifier_from_settings(
        {"USER_POOL_ID": POOL, "CLIENT_ID": "abc", "TOKEN_USE": "any"}
    )
    assert (
        from_settings.token_use
        == CognitoVerifier(user_pool_id=POOL, client_id="abc", token_use="any").token_use
    )


def test_token_use_must_be_one_of_the_words() -> None:
    with pytest.raises(ConfigurationError, match="'access', 'id' or 'any'"):
        CognitoVerifier(user_pool_id=POOL, client_id="abc", token_use="both")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["false", "no", 0, 1])
def test_allow_any_client_must_be_a_bool(value: object) -> None:
    # "false" is a truthy string: taken as it is, it would accept tokens of every app client
    with pytest.raises(ConfigurationError, match="allow_any_client must be True or False"):
        CognitoVerifier(user_pool_id=POOL, client_id="abc", allow_any_client=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("client_id", ["abc,def", "abc def", ["abc, def"]])
def test_several_client_ids_in_one_string_are_refused(client_id: object) -> None:
    with pytest.raises(ConfigurationError, match=r"client_id=\['abc', 'def'\]"):
        CognitoVerifier(user_pool_id=POOL, client_id=client_id)  # type: ignore[arg-type]


def test_client_ids_per_pool_refuse_joined_ids() -> None:
    with pytest.raises(ConfigurationError, match="several client ids"):
        CognitoVerifier(client_id={POOL: "abc,def"})


# -- requirements and decorator arguments -----------------------------------------------------


def test_requirement_refuses_whitespace_in_a_scope() -> None:
    with pytest.raises(ConfigurationError, match=r"scopes=\('orders/read', 'orders/write'\,\)"):
        Requirement(scopes=("orders/read orders/write",))
    with pytest.raises(ConfigurationError, match="whitespace"):
        Requirement.of(groups="admins staff")


def test_requirement_takes_a_lone_string_as_one_name_not_its_letters() -> None:
    assert Requirement(scopes="orders/read").scopes == ("orders/read",)  # type: ignore[arg-type]
    assert Requirement(groups=["admins"]).groups == ("admins",)  # type: ignore[arg-type]
    assert hash(Requirement(scopes=["a"])) == hash(Requirement(scopes=("a",)))  # type: ignore[arg-type]


def test_decorator_arguments_refuse_each_mistake() -> None:
    def view() -> None: ...

    with pytest.raises(
        ConfigurationError, match=r"must be called .*@require_scope\('orders/read'\)"
    ):
        Requirement.decorator_args("require_scope", scopes=(view,))
    with pytest.raises(ConfigurationError, match="needs one or more names"):
        Requirement.decorator_args("require_scope")
    with pytest.raises(ConfigurationError, match="separate string arguments"):
        Requirement.decorator_args("require_scope", scopes=(["a", "b"],))
    with pytest.raises(ConfigurationError, match=r"require_scope\('a', 'b'\)"):
        Requirement.decorator_args("require_scope", scopes=("a b",))
    with pytest.raises(ConfigurationError, match="non-empty"):
        Requirement.decorator_args("require_group", groups=("",))


# -- settings: misspelt names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("COGNITO_SCOPE", "COGNITO_SCOPES"),
        ("COGNITO_GROUP", "COGNITO_GROUPS"),
        ("COGNITO_CLIENT_IDS", "COGNITO_CLIENT_ID"),
        ("COGNITO_TOKEN_USES", "COGNITO_TOKEN_USE"),
        ("COGNITO_JWKS_URL", "COGNITO_JWKS_URI"),
        ("COGNITO_USERPOOL_ID", "COGNITO_USER_POOL_ID"),
        ("cognito_scopes", "COGNITO_SCOPES"),
        # the same words, shortened, joined or with a URL suffix: too far apart for difflib
        ("COGNITO_POOL_ID", "COGNITO_USER_POOL_ID"),
        ("COGNITO_USERPOOLID", "COGNITO_USER_POOL_ID"),
        ("COGNITO_ANY_CLIENT", "COGNITO_ALLOW_ANY_CLIENT"),
        ("COGNITO_ISSUER_URL", "COGNITO_ISSUER"),
        ("COGNITO_JWKS", "COGNITO_JWKS_URI"),
        ("COGNITO_REVOCATIONS", "COGNITO_REVOCATIONS_URL"),
    ],
)
def test_environment_refuses_a_name_close_to_a_setting(name: str, meant: str) -> None:
    environ = {"COGNITO_USER_POOL_ID": POOL, "COGNITO_CLIENT_ID": "abc", name: "admin/all"}
    with pytest.raises(ConfigurationError, match=f"did you mean {meant!r}") as caught:
        verifier_from_env(environ)
    assert "environment" in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "COGNITO_DOMAIN",
        "COGNITO_CLIENT_SECRET",
        "COGNITO_REGION",
        "COGNITO_REDIRECT_URI",
        "COGNITO_IDENTITY_POOL_ID",
        "COGNITO_USER_POOL_REGION",
        "COGNITO_USER_ID",
        "COGNITO_URL",
    ],
)
def test_environment_leaves_the_application_own_cognito_names_alone(name: str) -> None:
    environ = {"COGNITO_USER_POOL_ID": POOL, "COGNITO_CLIENT_ID": "abc", name: "x"}
    assert verifier_from_env(environ).client_ids == {"abc"}


def test_a_settings_mapping_of_its_own_refuses_every_unknown_name_with_a_suggestion() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'TOKEN_USE'"):
        verifier_from_settings(
            {"USER_POOL_ID": POOL, "CLIENT_ID": "abc", "TOKEN_USES": "id"}, source="COGNITO_GUARD"
        )
    with pytest.raises(ConfigurationError, match="'DOMAIN'; the names are USER_POOL_ID"):
        check_setting_names({"DOMAIN": "x"}, source="COGNITO_GUARD")


def test_settings_refuse_a_value_of_the_wrong_type() -> None:
    with pytest.raises(ConfigurationError, match=r"CLIENT_ID.*a string or a list of strings"):
        verifier_from_settings({"USER_POOL_ID": POOL, "CLIENT_ID": 123})
    with pytest.raises(ConfigurationError, match="whitespace"):
        verifier_from_settings({"USER_POOL_ID": POOL, "CLIENT_ID": "abc", "SCOPES": ["a b"]})


# -- path rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "hint"), [("GETS /orders", "did you mean 'GET'"), ("FETCH /x", "")]
)
def test_rules_refuse_a_method_that_is_not_http(key: str, hint: str) -> None:
    with pytest.raises(ConfigurationError, match="not an HTTP method") as caught:
        PathRules({"/": Requirement(), key: Requirement()})
    assert hint in str(caught.value)


def test_rules_refuse_empty_protect_and_name_the_explicit_form() -> None:
    with pytest.raises(ConfigurationError, match=r"\{'/': None\}"):
        PathRules({})


@pytest.mark.parametrize(
    "protect", [["/orders"], "/orders", {"/orders": "orders/read"}, {"/orders?x=1": None}]
)
def test_rules_refuse_other_shapes(protect: Any) -> None:
    with pytest.raises(ConfigurationError):
        PathRules(protect)


# -- the bearer guard and its log records -----------------------------------------------------


def test_bearer_guard_refuses_what_is_not_a_verifier() -> None:
    with pytest.raises(ConfigurationError, match="must be a CognitoVerifier, not dict"):
        BearerGuard({"/": Requirement()})  # type: ignore[arg-type]
    verifier = LocalIssuer(POOL).verifier()
    with pytest.raises(ConfigurationError, match="realm must be a string"):
        BearerGuard(verifier, realm=42)  # type: ignore[arg-type]


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cognito_guard"]


def test_each_rejection_is_one_record_with_method_path_class_and_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = LocalIssuer(POOL)
    guard = BearerGuard(issuer.verifier())
    token = issuer.access_token(expires_in=-60)
    caplog.set_level(logging.DEBUG, "cognito_guard")
    with pytest.raises(Exception) as caught:
        guard.authenticate(["Bearer " + token])
    guard.answer(caught.value, method="GET", path="/orders")  # type: ignore[arg-type]
    guard.answer(MissingTokenError("the request has no bearer token"), method="GET", path="/me")
    first, second = _records(caplog)
    assert first.levelno == logging.INFO
    assert first.getMessage().startswith("rejected GET /orders with 401: ExpiredTokenError: ")
    assert second.getMessage() == (
        "rejected GET /me with 401: MissingTokenError: the request has no bearer token"
    )
    for record in (first, second):
        assert token not in record.getMessage()
        assert not record.getMessage().startswith("cognito_guard:")


def test_a_settings_mismatch_is_a_warning_once_then_info(caplog: pytest.LogCaptureFixture) -> None:
    guard = BearerGuard(LocalIssuer(POOL).verifier())
    caplog.set_level(logging.INFO, "cognito_guard")
    wrong_issuer = InvalidIssuerError("the token's issuer 'https://elsewhere' is not trusted")
    for _ in range(3):
        guard.answer(wrong_issuer, method="GET", path="/orders")
    guard.answer(InvalidClientError("client 'x' is not accepted"), method="GET", path="/orders")
    guard.answer(KeysUnavailableError("no keys"), method="GET", path="/orders")
    levels = [r.levelno for r in _records(caplog)]
    assert levels == [logging.WARNING, logging.INFO, logging.INFO, logging.WARNING, logging.WARNING]
    assert "check the user pool id / issuer setting" in _records(caplog)[0].getMessage()


def test_a_token_for_another_resource_warns_to_check_the_audience_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = LocalIssuer(POOL)
    guard = BearerGuard(issuer.verifier(audience="https://api.example.com"))
    caplog.set_level(logging.INFO, "cognito_guard")
    for _ in range(2):
        with pytest.raises(InvalidAudienceError) as caught:
            guard.authenticate(["Bearer " + issuer.access_token()])  # requested without resource
        guard.answer(caught.value, method="GET", path="/orders")
    first, second = _records(caplog)
    assert (first.levelno, second.levelno) == (logging.WARNING, logging.INFO)
    assert first.getMessage().startswith("rejected GET /orders with 401: InvalidAudienceError: ")
    assert "(check the audience setting (a token requested without resource=?);" in (
        first.getMessage()
    )


def test_the_warnings_of_made_up_causes_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    guard = BearerGuard(LocalIssuer(POOL).verifier())
    caplog.set_level(logging.INFO, "cognito_guard")
    for n in range(200):
        guard.answer(InvalidIssuerError(f"issuer 'https://attacker/{n}'"), method="GET", path="/")
    warnings = [r for r in _records(caplog) if r.levelno == logging.WARNING]
    assert 0 < len(warnings) <= 64
    assert len(_records(caplog)) == 200


def test_a_path_cannot_forge_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    guard = BearerGuard(LocalIssuer(POOL).verifier())
    caplog.set_level(logging.INFO, "cognito_guard")
    guard.answer(
        MissingTokenError("no token"), method="GET", path="/x\nrejected nothing" + "a" * 500
    )
    message = _records(caplog)[0].getMessage()
    assert "\n" not in message
    assert len(message) < 300


def test_an_unexpected_error_is_logged_at_error(caplog: pytest.LogCaptureFixture) -> None:
    guard = BearerGuard(LocalIssuer(POOL).verifier())
    caplog.set_level(logging.INFO, "cognito_guard")
    answer = guard.answer(ConfigurationError("broken"), method="POST", path="/orders")
    assert answer.status == 500
    (record,) = _records(caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "answering 500 to POST /orders: ConfigurationError: broken"


def test_leeway_in_milliseconds_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="leeway is in seconds and at most 300"):
        CognitoVerifier(user_pool_id=POOL, client_id="abc", leeway=5000)


def test_an_async_custom_check_is_refused_at_construction() -> None:
    async def check(claims: Any) -> bool:
        return False

    class Checker:
        async def __call__(self, claims: Any) -> bool:
            return False

    for custom_check in (check, Checker()):
        with pytest.raises(ConfigurationError, match="plain \\(not async\\) function"):
            CognitoVerifier(user_pool_id=POOL, client_id="abc", custom_check=custom_check)


@pytest.mark.parametrize("verdict", [frozenset(), 0, "", "no"])
def test_a_custom_check_answer_that_is_not_a_bool_never_counts_as_yes(verdict: object) -> None:
    issuer = LocalIssuer(POOL)
    verifier = issuer.verifier(custom_check=lambda claims: verdict)
    with pytest.raises(ConfigurationError, match="must return None, True or False"):
        verifier.verify(issuer.access_token())


# -- durations and counts: one check for every setting -------------------------------------------


def _durations() -> list[tuple[str, Any]]:
    """A constructor per setting given in seconds, called with the value under test."""
    from cognito_guard.client import ClientCredentialsAuth, CognitoTokenClient, RedisTokenCache
    from cognito_guard.keys import KeyPolicy
    from cognito_guard.revocation import MemoryRevocations
    from cognito_guard.sessions import MemorySessionStore, WebSignIn

    issuer = LocalIssuer()
    client = CognitoTokenClient(issuer.client_id, "secret", domain="https://auth.example.com")
    sign_in = {
        "client": client,
        "verifier": issuer.verifier(),
        "redirect_uri": "https://app.example.com/auth/callback",
        "store": MemorySessionStore(),
    }
    return [
        ("timeout", lambda v: CognitoTokenClient("id", domain="https://a.example", timeout=v)),
        ("refresh_skew", lambda v: ClientCredentialsAuth(client, refresh_skew=v)),
        ("leeway", lambda v: issuer.verifier(leeway=v)),
        ("KeyPolicy.ttl", lambda v: KeyPolicy(ttl=v)),
        ("KeyPolicy.stale_if_error", lambda v: KeyPolicy(stale_if_error=v)),
        ("max_token_lifetime", lambda v: MemoryRevocations(max_token_lifetime=v)),
        ("session_lifetime", lambda v: WebSignIn(**sign_in, session_lifetime=v)),
        ("login_ttl", lambda v: WebSignIn(**sign_in, login_ttl=v)),
        (
            "lock_lease",
            lambda v: RedisTokenCache("redis://127.0.0.1:1", allow_plaintext=True, lock_lease=v),
        ),
        (
            "timeout",
            lambda v: RedisTokenCache("redis://127.0.0.1:1", allow_plaintext=True, timeout=v),
        ),
    ]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, True, "30"])
def test_every_duration_refuses_what_is_not_a_finite_number_of_seconds(value: object) -> None:
    # NaN passes every comparison and infinity overflows a socket timeout: both must be refused
    # where they are written, in the same words for every setting.
    for what, make in _durations():
        with pytest.raises(ConfigurationError, match=f"{what} must be a number of seconds"):
            make(value)


def test_every_duration_takes_a_finite_number_of_seconds() -> None:
    for _what, make in _durations():
        make(30)
        make(2.5)


def test_a_refused_setting_shows_a_number_but_not_a_string_it_was_given() -> None:
    from cognito_guard.client import CognitoTokenClient

    with pytest.raises(ConfigurationError) as info:
        CognitoTokenClient("id", domain="https://a.example", timeout="hunter2-secret")  # type: ignore[arg-type]
    assert "hunter2" not in str(info.value) and "a str" in str(info.value)
    with pytest.raises(ConfigurationError, match=r"not -1\b"):
        CognitoTokenClient("id", domain="https://a.example", timeout=-1)


@pytest.mark.parametrize("value", [-1, 1.5, True, "10", float("nan")])
def test_every_count_refuses_what_is_not_a_whole_number(value: object) -> None:
    from cognito_guard.keys import KeyPolicy

    for what, make in [
        (
            "token_cache_size",
            lambda v: CognitoVerifier(user_pool_id=POOL, client_id="c", token_cache_size=v),
        ),
        ("KeyPolicy.max_bytes", lambda v: KeyPolicy(max_bytes=v)),
    ]:
        with pytest.raises(ConfigurationError, match=f"{what} must be a whole number"):
            make(value)
