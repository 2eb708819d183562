"""``cognito-guard token``: print a client-credentials (M2M) access token."""

from __future__ import annotations

import argparse
import os
import sys

from .._oauth import OAuthError, TokenEndpointUnavailable
from ..errors import ConfigurationError
from ._format import EXIT_REJECTED, EXIT_USAGE, EXIT_VALID, _in_option_words, _json_out, iso

# The Python parameters behind the options, as a configuration error names them.
_TOKEN_OPTIONS = {"client_id": "--client-id", "domain": "--domain", "scopes": "--scope"}


def cmd_token(args: argparse.Namespace) -> int:
    """Print a client-credentials access token."""
    from ..client import CognitoTokenClient

    secret = os.environ.get(args.secret_env)
    if not secret:
        print(
            f"cognito-guard token: set the client secret in the environment variable "
            f"{args.secret_env} (it is never taken as an argument, to keep it out of shell "
            "history and process lists)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        client = CognitoTokenClient(args.client_id, secret, domain=args.domain)
        tokens = client.client_credentials(scopes=args.scope)
    except ConfigurationError as exc:
        print(f"cognito-guard token: {_in_option_words(str(exc), _TOKEN_OPTIONS)}", file=sys.stderr)
        return EXIT_USAGE
    except OAuthError as exc:
        print(f"cognito-guard token: Cognito refused: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except TokenEndpointUnavailable as exc:
        print(f"cognito-guard token: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        _json_out(
            {
                "access_token": tokens.access_token,
                "token_type": tokens.token_type,
                "expires_in": tokens.expires_in,
                "expires_at": iso(tokens.expires_at),
            }
        )
    else:
        print(tokens.access_token)
    return EXIT_VALID
