"""PKCE pairs and the /oauth2/authorize URL."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from cognito_guard.errors import ConfigurationError
from cognito_guard.pkce import (
    authorization_request,
    authorize_url,
    code_challenge,
    make_code_verifier,
    make_pkce_pair,
)


def test_code_challenge_matches_the_rfc_7636_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize("length", [43, 64, 128])
def test_code_verifiers_have_the_requested_length_and_alphabet(length: int) -> None:
    verifier = make_code_verifier(length)
    assert len(verifier) == length
    assert re.fullmatch(r"[A-Za-z0-9\-._~]+", verifier)


@pytest.mark.parametrize("length", [42, 129])
def test_code_verifier_lengths_outside_the_rfc_are_refused(length: int) -> None:
    with pytest.raises(ConfigurationError):
        make_code_verifier(length)


def test_an_invalid_verifier_is_refused_without_being_echoed() -> None:
    secret = "short-but-secret"
    with pytest.raises(ConfigurationError) as info:
        code_challenge(secret)
    assert secret not in str(info.value)


def test_pairs_are_fresh_and_consistent() -> None:
    first, second = make_pkce_pair(), make_pkce_pair()
    assert first.verifier != second.verifier
    assert first.challenge == code_challenge(first.verifier)
    assert first.method == "S256"
    assert first.verifier not in repr(first)


def test_authorize_url_carries_every_parameter() -> None:
    url = authorize_url(
        "https://auth.example.com/",
        client_id="cid",
        redirect_uri="https://app/cb",
        state="st",
        scopes=["openid", "orders/read"],
        nonce="nn",
        code_challenge="ch",
        identity_provider="Google",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "auth.example.com",
        "/oauth2/authorize",
    )
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["cid"],
        "redirect_uri": ["https://app/cb"],
        "state": ["st"],
        "scope": ["openid orders/read"],
        "nonce": ["nn"],
        "code_challenge": ["ch"],
        "code_challenge_method": ["S256"],
        "identity_provider": ["Google"],
    }


@pytest.mark.parametrize("resource", ["https://api.example.com", "myapp://orders"])
def test_authorize_url_asks_for_one_resource(resource: str) -> None:
    url = authorize_url(
        "https://auth.example.com", client_id="c", redirect_uri="r", state="st", resource=resource
    )
    assert parse_qs(urlsplit(url).query)["resource"] == [resource]
    auth = authorization_request(
        "https://auth.example.com", client_id="c", redirect_uri="r", resource=resource
    )
    assert parse_qs(urlsplit(auth.url).query)["resource"] == [resource]


@pytest.mark.parametrize(
    "resource",
    [["https://a.example", "https://b.example"], "", "orders", "https://a.example/#x", "urn:x:y"],
)
def test_authorize_url_refuses_a_resource_cognito_cannot_bind(resource: object) -> None:
    with pytest.raises(ConfigurationError, match="resource"):
        authorize_url(
            "https://auth.example.com",
            client_id="c",
            redirect_uri="r",
            state="st",
            resource=resource,  # type: ignore[arg-type]
        )


def test_authorize_url_requires_a_state() -> None:
    with pytest.raises(ConfigurationError, match="state"):
        authorize_url("https://auth.example.com", client_id="c", redirect_uri="r", state="")


def test_authorization_request_generates_state_nonce_and_pkce() -> None:
    auth = authorization_request(
        "https://auth.example.com", client_id="cid", redirect_uri="https://app/cb"
    )
    query = parse_qs(urlsplit(auth.url).query)
    assert query["state"] == [auth.state]
    assert query["nonce"] == [auth.nonce]
    assert query["code_challenge"] == [code_challenge(auth.code_verifier)]
    assert len({auth.state, auth.nonce, auth.code_verifier}) == 3
    other = authorization_request(
        "https://auth.example.com", client_id="cid", redirect_uri="https://app/cb"
    )
    assert other.state != auth.state
    for secret in (auth.state, auth.nonce, auth.code_verifier):
        assert secret not in repr(auth)
