"""CognitoVerifier(audience=...): access tokens must name one of the audiences in ``aud``."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard import (
    CognitoVerifier,
    ConfigurationError,
    InvalidAudienceError,
    InvalidClientError,
    TokenError,
)
from cognito_guard.config import verifier_from_env, verifier_from_settings
from cognito_guard.testing import OMIT, LocalIssuer, ManualClock

MCP = "https://mcp.example.com"
API = "https://api.example.com"


@pytest.fixture
def issuer(cognito_signing_keys: list[RSAPrivateKey], clock: ManualClock) -> LocalIssuer:
    return LocalIssuer("eu-west-1_AbCdEf123", keys=cognito_signing_keys, clock=clock)


# -- the aud claim in every shape -----------------------------------------------------------------


@pytest.mark.parametrize(
    "aud",
    [MCP, [MCP], [API, MCP], [MCP, API], [MCP, MCP]],
    ids=["string", "list of one", "list, second right", "list, first right", "repeated"],
)
def test_an_access_token_naming_the_audience_is_accepted(issuer: LocalIssuer, aud: object) -> None:
    verifier = issuer.verifier(audience=MCP)
    claims = verifier.verify(issuer.access_token(aud=aud))
    assert claims["aud"] == aud


@pytest.mark.parametrize(
    ("aud", "expected"),
    [
        (OMIT, "no 'aud' claim"),
        (None, "no 'aud' claim"),
        (API, "names none"),
        ([API], "names none"),
        ([], "names none"),
        ("", "names none"),
        (MCP + "/", "names none"),  # compared exactly: no URL normalisation
        (MCP.upper(), "names none"),
        ([MCP, 5], "not a string or a list of strings"),
        ([[MCP]], "not a string or a list of strings"),
        ({"aud": MCP}, "not a string or a list of strings"),
        (5, "not a string or a list of strings"),
        (True, "not a string or a list of strings"),
    ],
    ids=[
        "missing",
        "null",
        "another resource",
        "list of another resource",
        "empty list",
        "empty string",
        "trailing slash",
        "other case",
        "list with a non-string entry",
        "nested list",
        "object",
        "number",
        "boolean",
    ],
)
def test_an_access_token_without_the_audience_is_refused(
    issuer: LocalIssuer, aud: object, expected: str
) -> None:
    verifier = issuer.verifier(audience=MCP)
    with pytest.raises(InvalidAudienceError) as caught:
        verifier.verify(issuer.access_token(aud=aud))
    error = caught.value
    assert (error.status_code, error.error_code, error.check) == (401, "invalid_token", "audience")
    assert expected in str(error)
    assert f"audiences ['{MCP}']" in str(error)  # what was expected, beside what came
    assert error.www_authenticate() == (
        'Bearer error="invalid_token", '
        'error_description="The token was issued for another resource"'
    )


def test_the_message_says_what_was_expected_and_what_came(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(audience=[MCP, API])
    with pytest.raises(InvalidAudienceError) as caught:
        verifier.verify(issuer.access_token(aud="https://other.example.com"))
    assert str(caught.value) == (
        f"aud 'https://other.example.com' names none of the accepted audiences ['{API}', '{MCP}']"
    )


def test_any_of_several_audiences_is_enough(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(audience=[MCP, API])
    assert verifier.audiences == (MCP, API)
    for aud in (MCP, API, [API], ["https://other.example.com", MCP]):
        verifier.verify(issuer.access_token(aud=aud))


def test_machine_tokens_are_judged_alike(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(audience=MCP)
    assert verifier.verify(issuer.m2m_token(aud=MCP)).is_machine
    with pytest.raises(InvalidAudienceError):
        verifier.verify(issuer.m2m_token())


def test_without_an_audience_no_aud_is_demanded(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier()
    assert verifier.audiences == ()
    for aud in (OMIT, API, [API, 5], 5):
        verifier.verify(issuer.access_token(aud=aud))


def test_the_client_is_checked_before_the_audience(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(audience=MCP)
    with pytest.raises(InvalidClientError):
        verifier.verify(issuer.access_token(client_id="another0client", aud=API))


def test_allow_any_client_still_demands_the_audience(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(client_id=None, allow_any_client=True, audience=MCP)
    verifier.verify(issuer.access_token(client_id="another0client", aud=MCP))
    with pytest.raises(InvalidAudienceError):
        verifier.verify(issuer.access_token(client_id="another0client"))


# -- ID tokens ------------------------------------------------------------------------------------


def test_an_audience_with_token_use_id_is_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(ConfigurationError, match="audience applies to access tokens"):
        issuer.verifier(token_use="id", audience=MCP)


def test_with_token_use_any_id_tokens_keep_their_client_check(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(token_use="any", audience=MCP)
    assert verifier.verify(issuer.id_token()).token_use == "id"  # aud is the client id
    with pytest.raises(InvalidClientError):
        verifier.verify(issuer.id_token(aud=MCP))
    verifier.verify(issuer.access_token(aud=MCP))
    with pytest.raises(InvalidAudienceError):
        verifier.verify(issuer.access_token())


def test_for_id_tokens_drops_the_audience(issuer: LocalIssuer) -> None:
    access = issuer.verifier(audience=MCP)
    id_verifier = access.for_id_tokens()
    assert (id_verifier.audiences, access.audiences) == ((), (MCP,))
    assert id_verifier.verify(issuer.id_token()).token_use == "id"


# -- the verified-token cache belongs to its verifier ---------------------------------------------


def test_a_token_cached_by_a_verifier_without_audience_is_refused_by_one_with(
    issuer: LocalIssuer,
) -> None:
    token = issuer.access_token(aud=API)
    jwks = issuer.jwks
    open_verifier = issuer.verifier(jwks=jwks)
    strict = issuer.verifier(jwks=jwks, audience=MCP)
    for _ in range(2):  # the second call is a cache hit of open_verifier
        open_verifier.verify(token)
        with pytest.raises(InvalidAudienceError):
            strict.verify(token)
    with pytest.raises(InvalidAudienceError):
        strict.verify(issuer.access_token(aud=API))


def test_a_refused_token_is_refused_again(issuer: LocalIssuer) -> None:
    # Refusals are never cached as verdicts: each call judges the token again.
    verifier = issuer.verifier(audience=MCP)
    token = issuer.access_token(aud=API)
    for _ in range(3):
        with pytest.raises(InvalidAudienceError):
            verifier.verify(token)


@pytest.mark.anyio
async def test_averify_judges_the_audience_too(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(audience=MCP)
    assert (await verifier.averify(issuer.access_token(aud=[MCP])))["aud"] == [MCP]
    with pytest.raises(InvalidAudienceError):
        await verifier.averify(issuer.access_token(aud=API))


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audience", "message"),
    [
        ("", "non-empty strings"),
        ([], "empty list"),
        ((), "empty list"),
        ([MCP, ""], "non-empty strings"),
        ([MCP, 5], "non-empty strings"),
        (f"{MCP} {API}", "whitespace"),
        (f"{MCP}\n", "whitespace"),
        ("https://mcp.example.com/\x00", "control character"),
        (b"https://mcp.example.com", "not bytes"),
        ({"aud": MCP}, "not dict"),
        (5, "not int"),
    ],
)
def test_invalid_audiences_are_refused_at_construction(
    issuer: LocalIssuer, audience: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        issuer.verifier(audience=audience)


def test_any_non_empty_string_without_whitespace_is_an_audience(issuer: LocalIssuer) -> None:
    for audience in ("orders-api", "urn:example:orders", "https://api.example.com/v1/"):
        verifier = issuer.verifier(audience=audience)
        verifier.verify(issuer.access_token(aud=audience))


def test_a_lone_string_is_one_audience(issuer: LocalIssuer) -> None:
    assert issuer.verifier(audience=MCP).audiences == (MCP,)
    assert issuer.verifier(audience=(MCP, API)).audiences == (MCP, API)
    assert issuer.verifier(audience=iter([MCP])).audiences == (MCP,)


def test_cognito_audience_in_the_environment(issuer: LocalIssuer) -> None:
    environ = {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_AUDIENCE": f"{MCP}, {API}",
    }
    verifier = verifier_from_env(environ, jwks=issuer.jwks, clock=issuer.clock)
    assert verifier.audiences == (MCP, API)
    verifier.verify(issuer.access_token(aud=API))
    with pytest.raises(InvalidAudienceError):
        verifier.verify(issuer.access_token())
    unset = verifier_from_env({**environ, "COGNITO_AUDIENCE": ""}, jwks=issuer.jwks)
    assert unset.audiences == ()


def test_audience_in_a_settings_mapping_and_its_mistakes(issuer: LocalIssuer) -> None:
    settings = {"USER_POOL_ID": issuer.user_pool_id, "CLIENT_ID": issuer.client_id}
    verifier = verifier_from_settings(
        {**settings, "AUDIENCE": [MCP]}, jwks=issuer.jwks, clock=issuer.clock
    )
    assert verifier.audiences == (MCP,)
    with pytest.raises(ConfigurationError, match="did you mean 'AUDIENCE'"):
        verifier_from_settings({**settings, "AUDIENCES": MCP})
    with pytest.raises(ConfigurationError, match=r"COGNITO_GUARD.*audience must be non-empty"):
        verifier_from_settings({**settings, "AUDIENCE": [5]}, source="COGNITO_GUARD")


def test_the_audience_needs_no_pool_of_its_own() -> None:
    verifier = CognitoVerifier(user_pool_id="eu-west-1_AbCdEf123", client_id="c", audience=MCP)
    assert verifier.audiences == (MCP,)


def test_an_audience_error_is_a_token_error() -> None:
    assert issubclass(InvalidAudienceError, TokenError)
