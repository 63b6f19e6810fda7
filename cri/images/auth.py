"""Registry authentication: challenges, credentials and bearer tokens.

A registry answers 401 with `WWW-Authenticate: Bearer realm=..,service=..,scope=..` (get a
token from the realm, optionally with basic credentials or an identity/refresh token) or
`Basic realm=..` (send the credentials on every request). CRI's AuthConfig can also carry a
ready registry token, which is sent as a bearer token as is.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from pycri.cri.errors import InvalidArgument, Unauthenticated, Unavailable

log = logging.getLogger(__name__)

_PARAM = re.compile(r'\s*([a-zA-Z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    @classmethod
    def from_auth_config(cls, auth: Any) -> Credentials:
        """From a CRI AuthConfig message (or anything with its fields); `auth` is base64 u:p."""
        if auth is None:
            return cls()
        username = getattr(auth, "username", "") or ""
        password = getattr(auth, "password", "") or ""
        encoded = getattr(auth, "auth", "") or ""
        if encoded and not username:
            try:
                decoded = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise InvalidArgument("pull image: auth config `auth` is not base64") from exc
            username, sep, password = decoded.partition(":")
            if not sep:
                raise InvalidArgument("pull image: auth config `auth` is not `user:password`")
        return cls(
            username=username,
            password=password,
            identity_token=getattr(auth, "identity_token", "") or "",
            registry_token=getattr(auth, "registry_token", "") or "",
        )


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "bearer" or "basic"
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a WWW-Authenticate value (one or more challenges)."""
    challenges: list[Challenge] = []
    rest = header.strip()
    while rest:
        match = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
        if not match:
            break
        scheme = match.group(1).lower()
        rest = rest[match.end() :]
        params: dict[str, str] = {}
        while True:
            param = _PARAM.match(rest)
            # A token followed by a space and no `=` starts the next challenge.
            if not param or param.group(0).strip() == "":
                break
            value = param.group(2) if param.group(2) is not None else param.group(3)
            params[param.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
            rest = rest[param.end() :]
        challenges.append(Challenge(scheme, params))
        rest = rest.lstrip(", ")
    return challenges


def basic_header(creds: Credentials) -> str:
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    return f"Basic {token}"


async def fetch_token(
    client: httpx.AsyncClient, challenge: Challenge, scope: str, creds: Credentials, what: str
) -> str:
    """Get a bearer token from the challenge's realm for `scope`."""
    realm = challenge.params.get("realm", "")
    if not realm:
        raise Unauthenticated(f"{what}: bearer challenge without a realm")
    service = challenge.params.get("service", "")
    scopes = [s for s in {scope, challenge.params.get("scope", "")} if s]
    try:
        if creds.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "service": service,
                "client_id": "pycri",
                "scope": " ".join(scopes),
            }
            response = await client.post(realm, data=form)
        else:
            query: list[tuple[str, str | int | float | bool | None]] = (
                [("service", service)] if service else []
            )
            query += [("scope", s) for s in scopes]
            headers = {}
            if creds.username or creds.password:
                headers["Authorization"] = basic_header(creds)
            response = await client.get(realm, params=query, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"{what}: get token from `{realm}`: {exc}") from exc
    if response.status_code in (401, 403):
        raise Unauthenticated(
            f"{what}: token server `{realm}` refused the credentials (HTTP {response.status_code})"
        )
    if response.status_code >= 400:
        raise Unavailable(f"{what}: token server `{realm}` answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise Unavailable(f"{what}: token server `{realm}` sent no JSON") from exc
    token = body.get("token") or body.get("access_token")
    if not token:
        raise Unavailable(f"{what}: token server `{realm}` sent no token")
    return str(token)
