"""UserPool: the state of the OAuth double's user pool, in plain Python (no HTTP).

Users with their attributes, groups and passwords, authorization codes, refresh-token families
(one per sign-in, with the resources it was granted) with rotation and its grace period,
revocation and ``GlobalSignOut``. Every
operation either returns its result or raises a ``Refused`` (``_refusals``), which each HTTP
style (OAuth endpoints, user-pool JSON API) renders its own way.
"""

from __future__ import annotations

import hmac
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import TokenError
from ..verifier import CognitoVerifier
from ._grants import Code, Family, Rotated, looks_like_jws, new_refresh_token, pkce_matches
from ._refusals import Refused
from ._resources import aud_claim, narrow_resources
from ._tokens import TokenIssuer, attribute_claims, stable_sub

__all__ = ["USER_SCOPES", "UserPool"]

USER_SCOPES = ("openid", "email", "profile", "aws.cognito.signin.user.admin")


class UserPool:
    """The users, sign-ins and tokens of one app client of a local user pool.

    The arguments are those of :class:`~cognito_guard.testing.OAuthServer` that shape the pool;
    its tokens are minted by ``issuer``, and times are read from the issuer's clock.
    ``resources`` are those ``/oauth2/authorize`` may bind sign-ins to (RFC 8707), or None for
    any URL Cognito accepts.
    """

    def __init__(
        self,
        issuer: TokenIssuer,
        *,
        client_secret: str | None = None,
        rotate_refresh_tokens: bool = False,
        retry_grace_period: float = 0,
        device_tracking: bool = False,
        access_token_ttl: int = 3600,
        code_ttl: float = 300,
        resources: Iterable[str] | None = None,
    ) -> None:
        if (
            isinstance(retry_grace_period, bool)
            or not isinstance(retry_grace_period, (int, float))
            or not 0 <= retry_grace_period <= 60
        ):
            raise ValueError("retry_grace_period must be 0 to 60 seconds, as in Cognito")
        self.issuer = issuer
        self.client_id = issuer.client_id
        self.client_secret = client_secret
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.retry_grace_period = float(retry_grace_period)
        self.device_tracking = device_tracking
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.resources = None if resources is None else tuple(resources)
        self.users: dict[str, dict[str, str]] = {}
        self.groups: dict[str, tuple[str, ...]] = {}  # username -> its groups (cognito:groups)
        self._lock = threading.Lock()
        self._passwords: dict[str, str] = {}
        self._refresh_tokens: dict[str, Family] = {}
        self._rotated: dict[str, Rotated] = {}
        self._codes: dict[str, Code] = {}
        self._revoked_origins: set[str] = set()
        self._signed_out: dict[str, float] = {}  # username -> GlobalSignOut time
        self._verifiers: dict[tuple[str, ...], CognitoVerifier] = {}

    def reset(self) -> None:
        """Forget users (with their passwords), codes and issued tokens."""
        with self._lock:
            self.users.clear()
            self.groups.clear()
            self._passwords.clear()
            self._refresh_tokens.clear()
            self._rotated.clear()
            self._codes.clear()
            self._revoked_origins.clear()
            self._signed_out.clear()

    # -- users ------------------------------------------------------------------------------

    def add_user(
        self,
        /,  # **attributes may hold any name but this one
        username: str,
        password: str | None = None,
        *,
        groups: Iterable[str] = (),
        **attributes: str,
    ) -> None:
        """Set a user's attributes (strings, as Cognito returns them) and ``groups`` (a lone
        string is one), which every token minted for the user carries (``cognito:groups``; the
        ID token also the attributes). With ``password`` the user can sign in at the form.

        Example: ``server.add_user("alice", password="pw", groups=["admins"], given_name="Al")``
        """
        with self._lock:
            self.users[username] = {**self._default_attributes(username), **attributes}
            self.groups[username] = (groups,) if isinstance(groups, str) else tuple(groups)
            if password is None:
                self._passwords.pop(username, None)
            else:
                self._passwords[username] = password

    def attributes(self, username: str) -> dict[str, str]:
        """The user's attributes, or the defaults of a user never added."""
        return self.users.get(username) or self._default_attributes(username)

    def _default_attributes(self, username: str) -> dict[str, str]:
        sub = stable_sub(self.issuer.user_pool_id, username)
        return {"sub": sub, "email": f"{username}@example.com", "email_verified": "true"}

    def has_passwords(self) -> bool:
        """True when some user was added with a password (managed login shows its form)."""
        with self._lock:
            return bool(self._passwords)

    def check_password(self, username: str, password: str) -> bool:
        """True when ``username`` exists and was added with ``password``."""
        with self._lock:
            expected = self._passwords.get(username)
            known = username in self.users
        return (
            expected is not None
            and known
            and hmac.compare_digest(password.encode(), expected.encode())
        )

    # -- codes and refresh tokens --------------------------------------------------------------

    def issue_refresh_token(
        self,
        username: str = "alice",
        scopes: Iterable[str] = USER_SCOPES,
        *,
        device_key: str | None = None,
        resources: Iterable[str] = (),
    ) -> str:
        """A refresh token of a new sign-in of ``username``.

        With ``device_tracking``, the sign-in is on a device: ``device_key`` (or a new key,
        read it with :meth:`device_key_of`), which every API refresh must then send.
        ``resources`` are the resource indicators the sign-in was granted (the ``aud`` of the
        access tokens refreshed from it).
        """
        if device_key is not None and not self.device_tracking:
            raise ValueError("a device_key needs serve_oauth(device_tracking=True)")
        if self.device_tracking and device_key is None:
            device_key = f"{self.issuer.region}_{uuid.uuid4()}"
        family = Family(username, tuple(scopes), tuple(resources), device_key=device_key)
        token = new_refresh_token()
        with self._lock:
            self._refresh_tokens[token] = family
        return token

    def device_key_of(self, refresh_token: str) -> str | None:
        """The device key the sign-in of ``refresh_token`` is bound to (device tracking)."""
        with self._lock:
            family = self._family_of(refresh_token)
        return family.device_key if family is not None else None

    def issue_code(
        self,
        username: str = "alice",
        *,
        redirect_uri: str,
        scopes: Iterable[str] = USER_SCOPES,
        code_challenge: str | None = None,
        nonce: str | None = None,
        resources: Iterable[str] = (),
    ) -> str:
        """An authorization code, as ``/oauth2/authorize`` would redirect with.

        ``resources``: the resource indicators the authorization request asked for.
        """
        code = str(uuid.uuid4())
        entry = Code(
            Family(username, tuple(scopes), tuple(resources)),
            redirect_uri,
            self.issuer.clock() + self.code_ttl,
            code_challenge,
            nonce,
        )
        with self._lock:
            self._codes[code] = entry
        return code

    def is_revoked(self, refresh_token: str) -> bool:
        """True when ``refresh_token`` no longer works: revoked, or rotated out (past grace)."""
        with self._lock:
            family = self._family_of(refresh_token)
            if family is None or family.origin in self._revoked_origins:
                return True
            rotated = self._rotated.get(refresh_token)
            return rotated is not None and not self._in_grace(rotated)

    def user_names(self, refresh_token: str) -> set[str] | None:
        """The username and ``sub`` of a live refresh token's user (None for an unknown token).

        Cognito computes a ``SECRET_HASH`` over either; the token names the user.
        """
        with self._lock:
            family = self._refresh_tokens.get(refresh_token)
        if family is None:
            return None
        return {family.username, self.attributes(family.username)["sub"]}

    def _family_of(self, refresh_token: str) -> Family | None:
        """The sign-in of a live or rotated-out refresh token (call with ``_lock`` held)."""
        family = self._refresh_tokens.get(refresh_token)
        rotated = self._rotated.get(refresh_token) if family is None else None
        return rotated.family if rotated is not None else family

    def _in_grace(self, rotated: Rotated) -> bool:
        # The grace period is for retrying a request whose answer was lost: once the
        # replacement has been used (or the grace period is over) the old token is spent.
        return self.issuer.clock() < rotated.until and rotated.replacement in self._refresh_tokens

    # -- grants --------------------------------------------------------------------------------

    def _mint(
        self, family: Family, resources: Sequence[str], nonce: str | None = None
    ) -> dict[str, Any]:
        # The user's current attributes and groups, as Cognito mints them at every grant.
        attributes = self.attributes(family.username)
        with self._lock:
            groups = self.groups.get(family.username) or None  # no claim without a group
        sub, ttl = attributes["sub"], self.access_token_ttl
        user: dict[str, Any] = {"username": family.username, "sub": sub, "groups": groups}
        times: dict[str, Any] = {"expires_in": ttl, "origin_jti": family.origin}
        access = self.issuer.access_token(
            scopes=family.scopes, claims=aud_claim(resources), **user, **times
        )
        result: dict[str, Any] = {"access_token": access}
        if "openid" in family.scopes:
            nonced = {} if nonce is None else {"nonce": nonce}
            claims = {**attribute_claims(attributes), **nonced}
            email = attributes.get("email", "")
            result["id_token"] = self.issuer.id_token(email=email, claims=claims, **user, **times)
        result["token_type"] = "Bearer"
        result["expires_in"] = self.access_token_ttl
        return result

    def redeem_code(
        self, code: str, redirect_uri: str, code_verifier: str, resources: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Tokens (OAuth field names) for a single-use code; ``code_verifier`` "" when absent.

        ``resources`` (RFC 8707) may name the resource the authorization request bound the code
        to, but no other; the access token is for that resource either way.
        """
        with self._lock:
            entry = self._codes.pop(code, None)  # codes are single-use
        if entry is None or entry.expires_at <= self.issuer.clock():
            raise Refused("bad_grant", "invalid or expired code")
        if entry.redirect_uri != redirect_uri:
            raise Refused("bad_grant", "redirect_uri does not match")
        challenge = entry.code_challenge
        if challenge is not None and not pkce_matches(code_verifier, challenge):
            raise Refused("bad_grant", "code_verifier does not match the code_challenge")
        audience = narrow_resources(resources, entry.family.resources)
        tokens = self._mint(entry.family, audience, nonce=entry.nonce)
        refresh_token = new_refresh_token()
        with self._lock:
            self._refresh_tokens[refresh_token] = entry.family
        tokens["refresh_token"] = refresh_token
        return tokens

    def refresh(
        self,
        refresh_token: str,
        *,
        device_key: str | None = None,
        check_device: bool = False,
        resources: Sequence[str] = (),
    ) -> dict[str, Any]:
        """New tokens for a refresh token; with rotation also a new refresh token.

        ``resources`` (RFC 8707) may name the sign-in's resources, but no other.

        A rotated-out token used again within the grace period gets new tokens and a newer
        replacement, and the replacement it got before stops working. (Cognito does not say
        whether a retry gets the same replacement or a new one; this is the stricter reading,
        and a client that keeps the latest answer works with both.)
        """
        with self._lock:
            family = self._family_of(refresh_token)
            if family is None or family.origin in self._revoked_origins:
                raise Refused("bad_grant", "Invalid Refresh Token")
            # With device remembering, a refresh without the sign-in's device key is refused
            # the way Cognito refuses it.
            if (
                check_device
                and family.device_key is not None
                and not (
                    isinstance(device_key, str)
                    and hmac.compare_digest(device_key.encode(), family.device_key.encode())
                )
            ):
                raise Refused("bad_grant", "Invalid Refresh Token")
            retired = self._rotated.get(refresh_token)
            if retired is not None and not self._in_grace(retired):
                raise Refused(
                    "reused_grant",
                    "The refresh token has been invalidated by refresh token rotation.",
                )
            # Before any rotation: a refused request leaves the refresh token as it was.
            audience = narrow_resources(resources, family.resources)
            rotated = None
            if self.rotate_refresh_tokens:
                rotated = new_refresh_token()
                self._refresh_tokens[rotated] = family
                if retired is not None:
                    del self._refresh_tokens[retired.replacement]
                    retired.replacement = rotated
                else:
                    del self._refresh_tokens[refresh_token]
                    until = self.issuer.clock() + self.retry_grace_period
                    self._rotated[refresh_token] = Rotated(family, until, rotated)
        tokens = self._mint(family, audience)
        if rotated is not None:
            tokens["refresh_token"] = rotated
        return tokens

    # -- revocation and sign-out ---------------------------------------------------------------

    def revoke(self, token: str) -> None:
        """Revoke a refresh token and every token of its sign-in; an unknown token is no error."""
        with self._lock:
            family = self._family_of(token)
            if family is not None:
                self._revoked_origins.add(family.origin)
                for other in [t for t, f in self._refresh_tokens.items() if f is family]:
                    del self._refresh_tokens[other]
                return
        if looks_like_jws(token):
            raise Refused("bad_token_type", "Only refresh tokens can be revoked")
        # RFC 7009: an unknown token is not an error; the client's goal is already reached.

    def _verifier(self) -> CognitoVerifier:
        kids = tuple(self.issuer.published_kids)
        with self._lock:
            verifier = self._verifiers.get(kids)
        if verifier is None:
            verifier = self.issuer.verifier(token_use="access", token_cache_size=0)
            with self._lock:
                self._verifiers = {kids: verifier}
        return verifier

    def user_of(self, access_token: str, required_scope: str) -> tuple[str, dict[str, str]]:
        """The user (name, attributes) of a live access token carrying ``required_scope``."""
        try:
            claims = self._verifier().verify(access_token)
        except TokenError as exc:
            raise Refused("bad_token", exc.description) from None
        with self._lock:
            revoked = claims.origin_jti in self._revoked_origins
            cutoff = self._signed_out.get(claims.username) if claims.username is not None else None
        iat = claims.get("iat")
        signed_out = cutoff is not None and (not isinstance(iat, (int, float)) or iat <= cutoff)
        if revoked or signed_out:
            raise Refused("bad_token", "Access token has been revoked")
        if claims.username is None:
            raise Refused("bad_token", "The access token does not belong to a user")
        if required_scope not in claims.scopes:
            raise Refused("bad_scope", "Access token does not have required scopes")
        return claims.username, self.attributes(claims.username)

    def sign_out(self, username: str) -> None:
        """``GlobalSignOut``: the user's refresh tokens stop, earlier access tokens are refused."""
        with self._lock:
            self._signed_out[username] = self.issuer.clock()
            for refresh_token, family in list(self._refresh_tokens.items()):
                if family.username == username:
                    self._revoked_origins.add(family.origin)
                    del self._refresh_tokens[refresh_token]

    def signed_out_at(self, username: str) -> float | None:
        """When ``username`` was last signed out with ``GlobalSignOut``, or None."""
        with self._lock:
            return self._signed_out.get(username)
