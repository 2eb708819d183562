"""The library's one unverified decoder (``_jws.decode_unverified``) and the CLI commands that read
a token with it: ``decode``, ``verify`` (for its explanations) and ``revoke --token``."""

from __future__ import annotations

import base64
import io
import json

import pytest

from cognito_guard import _jws
from cognito_guard.cli import main
from cognito_guard.errors import InvalidAlgorithmError, MalformedTokenError
from cognito_guard.testing import LocalIssuer


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


_HEADER = _b64('{"alg":"RS256","kid":"k"}')


def _token(header: str, payload: str, signature: str = "c2ln") -> str:
    return f"{_b64(header)}.{_b64(payload)}.{signature}"


def test_the_unverified_decoder_reads_a_header_the_verifier_refuses() -> None:
    token = _token('{"alg":"none","typ":"at+jwt"}', '{"sub":"alice","jti":"j1"}', "")
    header, claims = _jws.decode_unverified(token, 16 * 1024)
    assert header == {"alg": "none", "typ": "at+jwt"}
    assert claims == {"sub": "alice", "jti": "j1"}
    with pytest.raises(InvalidAlgorithmError):  # the verifier's parser stays strict
        _jws.parse(token, 16 * 1024, _jws.HeaderCache())


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (_HEADER + "." + _b64('{"sub":"a","sub":"b"}') + ".c2ln", "payload is not a valid"),
        (_HEADER + "." + _b64('{"exp":NaN}') + ".c2ln", "payload is not a valid"),
        (_HEADER + "." + _b64("[1]") + ".c2ln", "payload is not a JSON object"),
        (_HEADER + ".eyJhIjoxfR.c2ln", "payload segment is not canonical base64url"),
        ("abc.def", "a JWS has exactly three dot-separated segments"),
        ("a b.c.d", "characters outside base64url"),
        ("x" * 600 + ".e30.c2ln", "longer than 512 bytes"),
    ],
)
def test_the_unverified_decoder_refuses_what_the_verifiers_parser_refuses(
    token: str, message: str
) -> None:
    with pytest.raises(MalformedTokenError, match=message) as unverified:
        _jws.decode_unverified(token, 512)
    with pytest.raises(MalformedTokenError) as parsed:
        _jws.parse(token, 512, _jws.HeaderCache())
    assert str(unverified.value) == str(parsed.value)


def test_decode_refuses_a_token_with_duplicate_claims(capsys: pytest.CaptureFixture[str]) -> None:
    token = _token('{"alg":"RS256","kid":"k"}', '{"sub":"alice","sub":"mallory"}')
    assert main(["decode", token]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        "cognito-guard decode: not a JWT: the payload is not a valid UTF-8 JSON object\n"
    )


def test_decode_names_an_encrypted_refresh_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "eyJjdHkiOiJKV1QifQ.a.b.c.d"]) == 1
    assert "encrypted JWE (a Cognito refresh token?)" in capsys.readouterr().err


def test_decode_shows_an_unsigned_token(capsys: pytest.CaptureFixture[str]) -> None:
    token = _token('{"alg":"none"}', '{"sub":"alice"}', "")
    assert main(["decode", token, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["header"] == {"alg": "none"}
    assert data["claims"] == {"sub": "alice"}


def test_decode_json_is_the_verifiers_reading_of_a_real_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    issuer = LocalIssuer(clock=lambda: 1_000_000)
    token = issuer.access_token(groups=["admins"])
    assert main(["decode", token, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    parsed = _jws.parse(token, 16 * 1024, _jws.HeaderCache())
    assert data["claims"] == parsed.payload
    assert data["header"]["kid"] == parsed.kid


def test_revoke_refuses_a_token_that_does_not_decode_before_reaching_redis(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COGNITO_REVOCATIONS_URL", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(_token('{"alg":"RS256"}', '{"jti":1,"jti":2}')))
    assert main(["revoke", "--token", "-"]) == 1
    assert "cognito-guard revoke: not a JWT: the payload is not a valid" in capsys.readouterr().err
