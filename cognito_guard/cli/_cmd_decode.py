"""``cognito-guard decode``: print a token's header and claims, unverified."""

from __future__ import annotations

import argparse
import json
import time

from ..errors import ConfigurationError, NotAJWT
from ._format import EXIT_REJECTED, EXIT_VALID, _fail, _is_time, _json_out, iso, relative
from ._input import _read_token, _read_unverified

_TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")


def cmd_decode(args: argparse.Namespace) -> int:
    """Print a token's header and claims, unverified."""
    now = args.at if args.at is not None else time.time()
    try:
        header, claims = _read_unverified(_read_token(args.token))
    except ConfigurationError as exc:
        return _fail("decode", exc)
    except NotAJWT as exc:
        return _fail("decode", f"not a JWT: {exc}", EXIT_REJECTED)
    times = {
        name: {
            "epoch": claims[name],
            "iso": iso(claims[name]),
            "relative": relative(claims[name] - now),
        }
        for name in _TIME_CLAIMS
        if _is_time(claims.get(name))
    }
    if args.json:
        _json_out({"verified": False, "header": header, "claims": claims, "times": times})
        return EXIT_VALID
    print("UNVERIFIED: decoded without checking the signature or any claim. Do not trust it;")
    print("use `cognito-guard verify` to check it.")
    print("\nHeader:")
    print(json.dumps(header, indent=2))
    print("\nClaims:")
    print(json.dumps(claims, indent=2))
    if times:
        print("\nTimes:")
        for name, value in times.items():
            print(f"  {name:<10} {value['iso']}  ({value['relative']})")
    return EXIT_VALID
