"""The IAM policy a Lambda authorizer returns: one for the whole API, never wider than the rules.

API Gateway caches an authorizer's policy per token (per identity source) and applies it to every
method and path that token calls until the TTL runs out, without asking the authorizer again. A
policy that allows only the method ARN of the request that produced it turns every other route
into a 403 for that token; one that allows the whole API widens access to routes the token does
not meet. So the policy states the rules for the whole API:

- ``Allow`` on everything of the API's stage (``<base>*``): a path no rule covers is public, as in
  :class:`~cognito_guard.rules.PathRules`;
- ``Deny`` on what each rule the token fails covers (its prefix, and everything below it, for the
  methods it governs): IAM lets an explicit Deny win over any Allow;
- ``Deny`` on every path :class:`~cognito_guard.rules.PathRules` refuses to judge (``.``/``..`` or
  empty segments, percent-encoded dots and slashes).

In IAM resource patterns ``*`` matches any run of characters, ``/`` included, and ``?`` any one
character: so a method is always written out (``<base>*/orders`` would also match
``<base>GET/x/orders``), and rule prefixes holding ``*`` are refused.

One case cannot be written exactly: a rule the token meets nested inside a rule it fails, inside
the API (``{"/": Requirement(), "/admin": admins, "/admin/help": Requirement()}`` for a token
outside ``admins``). The Deny on ``/admin`` also covers ``/admin/help``: narrower than the rules,
never wider. When the request at hand is such a route, the policy is narrowed the other way: it
allows that one method ARN and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...bearer import Requirement
from ...errors import ConfigurationError, InvalidPathError
from ...rules import PathRules
from ._events import RouteArn

__all__ = ["VERBS", "Rule", "policy_document", "rule_list"]

# The methods API Gateway puts in a method ARN (ANY routes arrive as the request's method).
VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ACTION = "execute-api:Invoke"

# Paths PathRules refuses (see rules._fault), as IAM patterns after the base: they are denied
# whatever the rules say, so that a cached policy judges them as the rules would.
_UNFIT = ("*//*", "*/./*", "*/../*", "*/.", "*/..", "*%2e*", "*%2E*", "*%2f*", "*%2F*")


@dataclass(frozen=True)
class Rule:
    """One ``protect`` entry: a method (None for any) and a path prefix with its requirement."""

    method: str | None
    prefix: str
    requirement: Requirement | None


def rule_list(protect: Any) -> list[Rule]:
    """The entries of ``protect`` after :class:`PathRules` accepted it, as the policy needs them.

    Keys are read as :class:`PathRules` reads them (``"METHOD /prefix"`` or ``"/prefix"``, a
    trailing slash dropped). A prefix holding ``*`` is refused: in a policy it would be a
    wildcard.
    """
    if protect is None:
        protect = Requirement()
    if isinstance(protect, Requirement):
        protect = {"/": protect}
    rules: list[Rule] = []
    for key, requirement in protect.items():
        method, _, prefix = key.strip().rpartition(" ")
        if "*" in prefix:
            raise ConfigurationError(
                f"protect key {key!r}: a Lambda authorizer's rules go into an IAM policy, where "
                "'*' is a wildcard; name the path without it"
            )
        rules.append(Rule(method.strip().upper() or None, prefix.rstrip("/") or "/", requirement))
    return rules


def _weight(rule_method: str | None, verb: str) -> int:
    """How strongly a rule at some prefix claims ``verb`` there (PathRules' tie-break), or -1."""
    if rule_method is None:
        return 0
    if rule_method == verb:
        return 2
    if rule_method == "GET" and verb == "HEAD":
        return 1
    return -1


def _owned(rules: list[Rule]) -> list[tuple[str, str, Requirement | None]]:
    """(verb, prefix, requirement): which rule governs each verb at each prefix it names."""
    owned: list[tuple[str, str, Requirement | None]] = []
    for prefix in dict.fromkeys(rule.prefix for rule in rules):
        here = [rule for rule in rules if rule.prefix == prefix]
        for verb in VERBS:
            best = max(here, key=lambda rule: _weight(rule.method, verb))
            if _weight(best.method, verb) >= 0:
                owned.append((verb, prefix, best.requirement))
    return owned


def _covers(prefix: str, path: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _unfit(path: str) -> bool:
    """True when one of the :data:`_UNFIT` patterns matches ``path``."""
    return (
        "//" in path
        or "/./" in path
        or "/../" in path
        or path.endswith(("/.", "/.."))
        or any(code in path for code in ("%2e", "%2E", "%2f", "%2F"))
    )


def _statement(effect: str, resources: list[str]) -> dict[str, Any]:
    return {"Action": ACTION, "Effect": effect, "Resource": resources}


def policy_document(
    arn: RouteArn,
    rules: list[Rule],
    path_rules: PathRules,
    meets: Callable[[Requirement], bool],
) -> tuple[dict[str, Any], bool]:
    """The policy for a token across the whole API of ``arn``, and whether ``arn`` is allowed.

    ``meets(requirement)`` says whether the token meets a requirement. The returned flag is the
    exact decision of ``path_rules`` for the request at hand; the policy agrees with it on that
    request, and is never wider than the rules on any other.
    """
    try:
        requirement = path_rules.requirement_for(arn.verb, arn.path)
        allowed = requirement is None or meets(requirement)
    except InvalidPathError:
        allowed = False
    denied: list[str] = []
    denies_this = _unfit(arn.path)
    met: dict[Requirement, bool] = {}
    for verb, prefix, requirement in _owned(rules):
        if requirement is None:
            continue
        if requirement not in met:
            met[requirement] = meets(requirement)
        if met[requirement]:
            continue
        if prefix == "/":
            denied.append(f"{arn.base}{verb}/*")
        else:
            denied += [f"{arn.base}{verb}{prefix}", f"{arn.base}{verb}{prefix}/*"]
        denies_this = denies_this or (verb == arn.verb and _covers(prefix, arn.path))
    denied += [arn.base + pattern for pattern in _UNFIT]
    if arn.verb not in VERBS or allowed == denies_this:
        # The whole-API policy would answer this request otherwise than the rules do (a met
        # rule inside a failed one, or a method the policy does not name): answer it exactly,
        # and let every other route of this token be asked again or refused until the TTL ends.
        statement = _statement("Allow" if allowed else "Deny", [arn.arn])
        return {"Version": "2012-10-17", "Statement": [statement]}, allowed
    statements = [_statement("Allow", [arn.base + "*"]), _statement("Deny", denied)]
    return {"Version": "2012-10-17", "Statement": statements}, allowed
