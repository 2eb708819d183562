"""The OAuth double itself, over real HTTP: reset, options settable after start, ``with`` blocks."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from cognito_guard.testing import JWKSServer, LocalIssuer, LoopbackServer, OAuthServer, Response

REDIRECT = "https://app.example/callback"
SECRET = "s3cret-client-secret-value"


@pytest.fixture
def server(cognito_issuer: LocalIssuer) -> Iterator[OAuthServer]:
    with cognito_issuer.serve_oauth(client_secret=SECRET) as running:
        yield running


def _authorize_query(server: OAuthServer) -> str:
    return urlencode(
        {"client_id": server.client_id, "redirect_uri": REDIRECT, "response_type": "code"}
    )


def _code_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


def test_reset_forgets_passwords_and_sign_ins(server: OAuthServer) -> None:
    server.add_user("bob", password="pw")
    query = _authorize_query(server)
    with httpx.Client(base_url=server.url) as browser:
        assert browser.get("/oauth2/authorize?" + query).status_code == 200  # the form
        form = {"query": query, "username": "bob", "password": "pw", "action": "sign_in"}
        _code_of(browser.post("/login", data=form))
        assert server.signed_in_users() == ["bob"]
        server.reset()
        assert server.signed_in_users() == []
        # No user has a password any more: the double signs signed_in_user in at once again.
        code = _code_of(browser.get("/oauth2/authorize?" + query))
    tokens = server.client().exchange_code(code, redirect_uri=REDIRECT)
    assert server.issuer.verifier().verify(tokens.access_token).username == "alice"


def test_options_set_after_start_take_effect(server: OAuthServer) -> None:
    client = server.client()
    server.access_token_ttl = 120
    server.m2m_scopes = ("reports/read",)
    assert client.client_credentials(scopes=["reports/read"]).expires_in == 120
    server.allowed_grants = frozenset({"refresh_token"})
    form = {"grant_type": "client_credentials", "scope": "reports/read"}
    refused = httpx.post(server.url + "/oauth2/token", data=form, auth=(server.client_id, SECRET))
    assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")
    assert server.grant_counts["client_credentials"] == 2
    server.signed_in_user = "erin"
    server.auto_sign_in = True
    with httpx.Client(base_url=server.url) as browser:
        code = _code_of(browser.get("/oauth2/authorize?" + _authorize_query(server)))
    server.allowed_grants = frozenset({"authorization_code"})
    tokens = client.exchange_code(code, redirect_uri=REDIRECT)
    assert server.issuer.verifier().verify(tokens.access_token).username == "erin"


def test_an_operation_set_unknown_after_start_is_answered_as_unknown(
    server: OAuthServer,
) -> None:
    refresh_token = server.issue_refresh_token("alice")
    server.unknown_operations = frozenset({"GetTokensFromRefreshToken"})
    answer = httpx.post(
        server.api_url,
        json={"ClientId": server.client_id, "RefreshToken": refresh_token, "ClientSecret": SECRET},
        headers={
            "X-Amz-Target": "AWSCognitoIdentityProviderService.GetTokensFromRefreshToken",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert (answer.status_code, answer.json()["__type"]) == (400, "UnknownOperationException")
    assert server.api_counts == {"GetTokensFromRefreshToken": 1}


def test_with_blocks_start_and_stop_every_server(cognito_issuer: LocalIssuer) -> None:
    servers: list[LoopbackServer] = [
        LoopbackServer({"/ping": lambda _request: Response(200, b"pong")}),
        JWKSServer(cognito_issuer),
        OAuthServer(cognito_issuer),
    ]
    for server in servers:
        with server as running:
            assert running is server
            assert httpx.get(server.url + "/ping").status_code in (200, 404)
        with pytest.raises(RuntimeError, match="not running"):
            _ = server.url


def test_an_unknown_refresh_token_with_a_username_that_is_not_a_string_is_refused(
    server: OAuthServer,
) -> None:
    refresh_token = "rt-never-issued"
    answer = httpx.post(
        server.api_url,
        json={
            "ClientId": server.client_id,
            "AuthFlow": "REFRESH_TOKEN_AUTH",
            "AuthParameters": {
                "REFRESH_TOKEN": refresh_token,
                "USERNAME": ["alice"],
                "SECRET_HASH": "x",
            },
        },
        headers={
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert (answer.status_code, answer.json()["__type"]) == (400, "NotAuthorizedException")


def test_a_users_groups_and_attributes_are_in_the_tokens_of_its_sign_ins(
    server: OAuthServer,
) -> None:
    server.add_user("ann", password="pw", groups=["admins", "staff"], given_name="Ann")
    server.add_user("bo", password="pw")  # in no group: no cognito:groups claim, as in Cognito
    verifier = server.issuer.verifier(token_use=None)
    client = server.client()
    query = _authorize_query(server) + "&scope=openid"

    def signed_in(username: str) -> dict[str, str]:
        with httpx.Client(base_url=server.url) as browser:
            form = {"query": query, "username": username, "password": "pw", "action": "sign_in"}
            code = _code_of(browser.post("/login", data=form))
        tokens = client.exchange_code(code, redirect_uri=REDIRECT)
        assert tokens.id_token is not None and tokens.refresh_token is not None
        return {"access": tokens.access_token, "id": tokens.id_token, "rt": tokens.refresh_token}

    ann = signed_in("ann")
    access, id_token = verifier.verify(ann["access"]), verifier.verify(ann["id"])
    assert access.groups == id_token.groups == frozenset({"admins", "staff"})
    assert id_token["given_name"] == "Ann" and id_token["email_verified"] is True
    bo = verifier.verify(signed_in("bo")["access"])
    assert bo.groups == frozenset() and "cognito:groups" not in bo
    # a changed membership shows in the tokens of the next refresh
    server.add_user("ann", password="pw", groups=["staff"])
    assert verifier.verify(client.refresh(ann["rt"]).access_token).groups == frozenset({"staff"})
    server.add_user("cy", password="pw", groups="admins")  # a lone name is one group
    assert verifier.verify(signed_in("cy")["access"]).groups == frozenset({"admins"})
