"""The table of the verifier's checks and the explanation of a verification's outcome.

The verifier checks in a fixed order and raises a distinct error per check, so every check before
the failing one passed and those after it were not reached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._audience import matched_audience
from ..errors import InvalidAudienceError, KeysUnavailableError, MalformedTokenError, TokenError
from ._format import _when


@dataclass
class _Context:
    """What the explanations may use: unverified header/claims and the expectations."""

    header: dict[str, Any]
    claims: dict[str, Any]
    now: float
    issuers: tuple[str, ...]
    jwks_uri: str | None
    client_ids: tuple[str, ...]
    token_use: str | None
    audiences: tuple[str, ...]
    scopes: tuple[str, ...]
    groups: tuple[str, ...]


def _kind(token_use: object) -> str:
    return {"access": "an access token", "id": "an ID token"}.get(
        token_use if isinstance(token_use, str) else "", f"a token with token_use {token_use!r}"
    )


def _client_of(ctx: _Context) -> object:
    if ctx.claims.get("token_use") == "id":
        return ctx.claims.get("aud")
    return ctx.claims.get("client_id")


def _token_scopes(ctx: _Context) -> list[str]:
    scope = ctx.claims.get("scope")
    return scope.split() if isinstance(scope, str) else []


def _token_groups(ctx: _Context) -> list[str]:
    groups = ctx.claims.get("cognito:groups")
    return [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []


def _fail_issuer(ctx: _Context, exc: TokenError) -> str:
    iss = ctx.claims.get("iss")
    if iss is None:
        return "the token has no iss claim"
    expected = " or ".join(ctx.issuers)
    return f"issued by {iss!r}; this check expects {expected}"


def _fail_key(ctx: _Context, exc: TokenError) -> str:
    where = f" at {ctx.jwks_uri}" if ctx.jwks_uri else ""
    return (
        f"key id {ctx.header.get('kid')!r} is not in the pool's JWKS{where}: the token comes "
        "from another user pool, or its key was retired"
    )


def _fail_expiry(ctx: _Context, exc: TokenError) -> str:
    exp = ctx.claims.get("exp")
    if isinstance(exc, MalformedTokenError):
        return "the token has no valid exp (expiry) claim"
    return f"expired {_when(exp, ctx.now)}"


def _fail_not_before(ctx: _Context, exc: TokenError) -> str:
    if isinstance(exc, MalformedTokenError):
        return "the iat or nbf claim is not a valid time"
    times = [ctx.claims.get(n) for n in ("iat", "nbf")]
    latest = max((t for t in times if isinstance(t, (int, float))), default=None)
    return f"not valid until {_when(latest, ctx.now)}: issued in the future (check the clocks)"


def _fail_token_use(ctx: _Context, exc: TokenError) -> str:
    actual = ctx.claims.get("token_use")
    if actual not in ("access", "id"):
        return f"token_use is {actual!r}; a Cognito token says 'access' or 'id'"
    return f"this is {_kind(actual)}; the API expects {_kind(ctx.token_use)}"


def _fail_client(ctx: _Context, exc: TokenError) -> str:
    claim = "aud" if ctx.claims.get("token_use") == "id" else "client_id"
    expected = ", ".join(ctx.client_ids)
    return f"issued to app client {_client_of(ctx)!r} ({claim}); expected {expected}"


def _fail_scopes(ctx: _Context, exc: TokenError) -> str:
    has = _token_scopes(ctx)
    missing = [s for s in ctx.scopes if s not in has]
    return f"lacks {', '.join(missing)}; the token has {', '.join(has) or 'no scope'}"


def _fail_groups(ctx: _Context, exc: TokenError) -> str:
    groups = _token_groups(ctx)
    return (
        f"the user is in none of {', '.join(ctx.groups)}; "
        f"they are in {', '.join(groups) or 'no group'}"
    )


def _detail(ctx: _Context, exc: TokenError) -> str:
    return str(exc)


def _pass_client(ctx: _Context) -> str:
    return f"issued to app client {_client_of(ctx)!r}"


def _pass_audience(ctx: _Context) -> str:
    try:
        return f"aud names {matched_audience(ctx.claims.get('aud'), ctx.audiences)}"
    except InvalidAudienceError as exc:  # not reached: verify() passed this check
        return str(exc)


def _skip_audience(ctx: _Context) -> str | None:
    if not ctx.audiences:
        return "no --audience given"
    if ctx.claims.get("token_use") != "access":
        return "not an access token: an ID token's aud is its app client (the client check)"
    return None


def _pass_scopes(ctx: _Context) -> str:
    return f"has {', '.join(ctx.scopes)}"


def _pass_groups(ctx: _Context) -> str:
    present = [g for g in ctx.groups if g in _token_groups(ctx)]
    return f"the user is in {', '.join(present)}"


@dataclass(frozen=True)
class Check:
    """One row: the check's name (the ``check`` of the errors that fail it), how to explain it."""

    name: str
    passed: Callable[[_Context], str]
    failed: Callable[[_Context, TokenError], str]
    skipped: Callable[[_Context], str | None] = lambda ctx: None


# In the verifier's order.
CHECKS: tuple[Check, ...] = (
    Check(
        "structure",
        lambda ctx: "three base64url segments with a JSON header and claims",
        _detail,
    ),
    Check(
        "algorithm",
        lambda ctx: f"RS256, key id {ctx.header.get('kid')!r}",
        lambda ctx, exc: f"{exc}; Cognito signs with RS256 and no key-bearing headers",
    ),
    Check(
        "issuer",
        lambda ctx: f"issued by {ctx.claims.get('iss')}",
        _fail_issuer,
    ),
    Check(
        "signing key",
        lambda ctx: f"key {ctx.header.get('kid')!r} is in the pool's JWKS",
        _fail_key,
    ),
    Check(
        "signature",
        lambda ctx: "the RS256 signature is valid",
        lambda ctx, exc: (
            "the signature does not match the pool's key: the token was altered, "
            "or signed by someone else"
        ),
    ),
    Check(
        "expiry",
        lambda ctx: f"expires {_when(ctx.claims.get('exp'), ctx.now)}",
        _fail_expiry,
    ),
    Check(
        "not before",
        lambda ctx: f"issued {_when(ctx.claims.get('iat'), ctx.now)}",
        _fail_not_before,
    ),
    Check(
        "token use",
        lambda ctx: (
            f"{_kind(ctx.claims.get('token_use'))}"
            + ("" if ctx.token_use else " (either kind accepted)")
        ),
        _fail_token_use,
    ),
    Check(
        "claims",
        lambda ctx: "sub, scope and cognito:groups are well-formed",
        _detail,
    ),
    Check(
        "client",
        _pass_client,
        _fail_client,
        lambda ctx: None if ctx.client_ids else "no --client-id given: any app client accepted",
    ),
    Check("audience", _pass_audience, _detail, _skip_audience),
    Check(
        "scopes",
        _pass_scopes,
        _fail_scopes,
        lambda ctx: None if ctx.scopes else "no --scope required",
    ),
    Check(
        "groups",
        _pass_groups,
        _fail_groups,
        lambda ctx: None if ctx.groups else "no --group required",
    ),
    Check("custom check", lambda ctx: "passed", _detail, lambda ctx: "none"),
)


@dataclass
class Row:
    """One line of the report: ``status`` is pass, fail, skipped or not_reached."""

    check: str
    status: str
    reason: str


def explain(ctx: _Context, error: BaseException | None, *, custom_check: bool = False) -> list[Row]:
    """The report rows for the outcome of ``CognitoVerifier.verify``.

    ``error`` is None (valid), a TokenError (rejected) or KeysUnavailableError (the key check
    could not run).
    """
    failed: str | None = None
    if isinstance(error, (TokenError, KeysUnavailableError)):
        # verify() raises only its checks' errors: one without a check came from a custom check.
        failed = error.check or "custom check"
    rows: list[Row] = []
    reached = True
    for check in CHECKS:
        if check.name == "custom check" and not custom_check:
            continue
        if not reached:
            rows.append(Row(check.name, "not_reached", "not reached: an earlier check failed"))
            continue
        if check.name == failed:
            if isinstance(error, KeysUnavailableError):  # the cause is on the closing line
                reason = "could not be checked: the pool's signing keys are unavailable"
            else:
                assert isinstance(error, TokenError)  # noqa: S101 - failed is set only then
                reason = check.failed(ctx, error)
            rows.append(Row(check.name, "fail", reason))
            reached = False
            continue
        skipped = check.skipped(ctx)
        if skipped is not None:
            rows.append(Row(check.name, "skipped", skipped))
        else:
            rows.append(Row(check.name, "pass", check.passed(ctx)))
    return rows
