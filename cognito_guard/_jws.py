"""Generic, strict parsing of an RS256 JWS compact serialisation (RFC 7515); nothing Cognito here.

The one unverified decoder of the library is here too, as strict as the parser.

Hot path: the token is encoded and translated to the standard base64 alphabet in one C pass that
also flags every character outside the base64url alphabet, so validation costs no per-character
Python work. Each distinct header segment is decoded and checked once, then remembered.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256

from .errors import (
    InvalidAlgorithmError,
    InvalidSignatureError,
    MalformedClaimsError,
    MalformedTokenError,
    shorten,
)

__all__ = ["HeaderCache", "ParsedToken", "decode_unverified", "parse", "verify_signature"]

_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64STD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BAD = ord("!")  # not in either alphabet, and not '.'


def _make_table() -> bytes:
    table = bytearray([_BAD]) * 256
    for url_ch, std_ch in zip(_B64URL, _B64STD, strict=True):
        table[url_ch] = std_ch
    table[ord(".")] = ord(".")
    return bytes(table)


_TABLE = _make_table()
_PAD = (b"", b"", b"==", b"=")
# RFC 4648 section 3.5: in canonical encoding the bits after the last full byte are zero. Accepting
# other final characters would let several strings decode to one signature (a malleable token).
_CANONICAL_LAST = {
    2: frozenset(c for i, c in enumerate(_B64STD) if i & 0x0F == 0),
    3: frozenset(c for i, c in enumerate(_B64STD) if i & 0x03 == 0),
}
# Header parameters that point at keys or change processing; Cognito never sends them and this
# library never follows them (RFC 8725 section 3.10).
_REFUSED_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit", "b64", "enc", "zip")
_ABSENT: Any = object()
# Explicit typing (RFC 8725 section 3.11): a token typed as something else (at+jwt, dpop+jwt, a
# logout token...) is another kind of token even when the pool's key signed it. Cognito's tokens
# carry no typ. "typ" is a media type (RFC 7515 section 4.1.9): compared case-insensitively, with
# "application/" implied when it has no "/", so "JWT", "jwt" and "application/jwt" are one type.
_JWT_TYPES = frozenset({"jwt", "application/jwt"})
# NumericDates beyond the year 33658 are nonsense; the bound also keeps huge ints (10**400), NaN
# and infinities out of float arithmetic (a comparison with NaN is always false).
_MAX_TIME = 1e15
# Deeper JSON than this in a token is refused whatever the Python version's recursion limit.
_MAX_DEPTH = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")
_PADDING = PKCS1v15()
_SHA256 = SHA256()


class ParsedToken(NamedTuple):
    """A token whose structure was checked and whose signature is not yet verified."""

    kid: str
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
_decode_json: Callable[[str], Any] = _DECODER.decode
# The C scanner behind decode(), called directly: decode() adds two whitespace regex matches in
# Python, which a compact token never needs (anything else falls back to decode()).
_scan = cast(Callable[[str, int], tuple[Any, int]], vars(_DECODER)["scan_once"])


def _segment(translated: bytes, start: int, end: int, what: str) -> bytes:
    length = end - start
    rest = length % 4
    if length == 0 or rest == 1:
        raise MalformedTokenError(f"the {what} segment has an impossible base64url length")
    if rest and translated[end - 1] not in _CANONICAL_LAST[rest]:
        raise MalformedTokenError(f"the {what} segment is not canonical base64url")
    return binascii.a2b_base64(translated[start:end] + _PAD[rest])


def _too_deep(text: str) -> bool:
    """True if JSON ``text`` nests deeper than _MAX_DEPTH (brackets inside strings don't count)."""
    depth = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > _MAX_DEPTH:
            return True
    return False


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
        # Counting is cheap; the exact depth scan runs only for unusually bracket-heavy JSON.
        if text.count("[") + text.count("{") > _MAX_DEPTH and _too_deep(text):
            raise MalformedTokenError(f"the {what} nests deeper than {_MAX_DEPTH} levels")
        try:
            value, end = _scan(text, 0)
        except StopIteration:  # no value at offset 0 (leading whitespace, or nothing)
            end = -1
        if end != len(text):
            value = _decode_json(text)  # whitespace around the value, or trailing data
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedTokenError(f"the {what} is not a valid UTF-8 JSON object") from exc
    if not isinstance(value, dict):
        raise MalformedTokenError(f"the {what} is not a JSON object")
    return value


def _check_header(header: dict[str, Any]) -> str:
    alg = header.get("alg")
    if alg != "RS256":
        raise InvalidAlgorithmError(f"expected alg 'RS256', got {shorten(alg)}")
    for name in _REFUSED_HEADERS:
        if name in header:
            raise InvalidAlgorithmError(f"the header parameter {name!r} is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedTokenError("the header has no 'kid' string")
    typ = header.get("typ", _ABSENT)
    if typ is not _ABSENT:
        if not isinstance(typ, str):
            raise MalformedTokenError("the header 'typ' is not a string")
        if typ.lower() not in _JWT_TYPES:
            raise InvalidAlgorithmError(
                f"expected no header 'typ' or 'JWT', got {shorten(typ)} (another kind of token)"
            )
    return kid


class HeaderCache:
    """Remembers the ``kid`` of header segments already checked (bounded; cleared when full)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self.kids: dict[bytes, str] = {}  # translated header segment -> kid

    def kid(self, translated: bytes, end: int) -> str:
        segment = translated[:end]
        kid = self.kids.get(segment)
        if kid is None:
            kid = _check_header(_json_object(_segment(translated, 0, end, "header"), "header"))
            if len(self.kids) >= self._size:
                self.kids.clear()  # an attacker cycling headers only costs us re-parsing
            self.kids[segment] = kid
        return kid


def _split(token: object, max_bytes: int) -> tuple[bytes, bytes, int, int]:
    """``token`` as ASCII, translated to the standard base64 alphabet, and where its dots are."""
    if not isinstance(token, str):
        raise MalformedTokenError(f"a token must be a str, not {type(token).__name__}")
    if len(token) > max_bytes:
        raise MalformedTokenError(f"the token is longer than {max_bytes} bytes")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedTokenError("the token contains non-ASCII characters") from None
    translated = raw.translate(_TABLE)
    if _BAD in translated:
        raise MalformedTokenError("the token contains characters outside base64url and '.'")
    first = translated.find(b".")
    second = translated.find(b".", first + 1)
    if first < 0 or second < 0 or translated.find(b".", second + 1) >= 0:
        raise MalformedTokenError("a JWS has exactly three dot-separated segments")
    return raw, translated, first, second


def parse(token: object, max_bytes: int, headers: HeaderCache) -> ParsedToken:
    """Check the structure of ``token`` and decode it. Raises MalformedTokenError subclasses."""
    raw, translated, first, second = _split(token, max_bytes)
    # The header cache lookup is inlined: it is the common case on the hot path.
    kid = headers.kids.get(translated[:first]) or headers.kid(translated, first)
    payload = _json_object(_segment(translated, first + 1, second, "payload"), "payload")
    signature = _segment(translated, second + 1, len(translated), "signature")
    return ParsedToken(kid, payload, raw[:second], signature)


def decode_unverified(token: str, max_bytes: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload of ``token``, decoded as strictly as :func:`parse` decodes them.

    Nothing else is checked: not the algorithm, the key id, the header parameters nor the
    signature. This is the one reader of a token that is not verified: to show one, or to take an
    identifier from it; never to trust it. Raises MalformedTokenError.
    """
    _raw, translated, first, second = _split(token, max_bytes)
    header = _json_object(_segment(translated, 0, first, "header"), "header")
    payload = _json_object(_segment(translated, first + 1, second, "payload"), "payload")
    return header, payload


def verify_signature(key: RSAPublicKey, token: ParsedToken) -> None:
    """RS256 (RSASSA-PKCS1-v1_5 with SHA-256) verification; raises InvalidSignatureError."""
    try:
        key.verify(token.signature, token.signing_input, _PADDING, _SHA256)
    except InvalidSignature:
        raise InvalidSignatureError("the signature does not verify with the issuer's key") from None


def numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim as a finite number, None when absent; bool and strings are rejected."""
    value = claims.get(name, _ABSENT)
    # An int in range is the usual case (every verification reads three), decided first; the
    # type() test excludes bool, which the checks below refuse.
    if type(value) is int and -_MAX_TIME < value < _MAX_TIME:
        return value
    if value is _ABSENT:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not -_MAX_TIME < value < _MAX_TIME
    ):
        raise MalformedClaimsError(
            f"the {name!r} claim is not a NumericDate: {shorten(value)}", name
        )
    return value
