"""The built-in OpenID Connect issuer, for the SAOs without an identity provider of their own.

Routing owns the organisation directory, so it knows who the officers are; this module signs
them in (RFC 6749's password grant; service accounts by client credentials) and hands out
short-lived ES256 access tokens. It publishes its discovery document and JWKS like any
provider, so the services verify its tokens with `shared.auth.TokenVerifier` exactly as they
would Keycloak's: nothing trusts this issuer by any other path. The HTTP side is
`services/routing/identity_http.py`; how to use it, docs/auth.md.

Passwords are argon2id hashes (argon2-cffi) in RUAM_CREDENTIALS_FILE; signing and key
handling are PyJWT's and cryptography's. With RUAM_ENV=dev and no credentials file, every
officer of the directory and three demo accounts sign in with the published DEMO_PASSWORD.

    python -m services.routing.identity hash     # an argon2id hash for the credentials file
    python -m services.routing.identity keygen   # a signing key (PEM) for RUAM_OIDC_SIGNING_KEY
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import hashlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from services.routing.domain.directory import Directory, Officer, OfficerStatus
from services.routing.ports import DirectorySource
from services.routing.settings import RoutingSettings
from shared.roles import Role

log = logging.getLogger("ruam.routing.identity")

# Published in docs/auth.md and used by the demo: accepted only with RUAM_ENV=dev.
DEMO_PASSWORD = "ruam-demo"
# Dev-only accounts for the roles no officer of the directory holds.
DEV_ACCOUNTS: Mapping[str, Role] = {
    "auditor": Role.AUDITOR,
    "operator": Role.OPERATOR,
    "planner": Role.PLANNER,
}
# Dev-only service account (client credentials) for scripts: dead letters, reloads.
DEV_CLIENT = "ruam-scripts"
DEV_CLIENT_ROLES = frozenset({Role.OPERATOR})
ALGORITHM = "ES256"
# What its access tokens say (docs/auth.md); the last four only when they apply.
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti", "org_id", "roles")
CLAIMS = (*REQUIRED_CLAIMS, "department", "officer_id", "name", "client_id")
PATH = "/oidc"  # where routing serves the issuer; RUAM_OIDC_ISSUER ends with it
# An argon2id check is CPU-bound (64 MiB and a few hundred milliseconds on a 2-core machine):
# a burst of sign-ins, or of guesses, must not take more cores or memory than this.
CONCURRENT_HASHES = 2


class IssuerMisconfigured(RuntimeError):
    """Routing refuses to start: no signing key outside dev, a bad key or credentials file."""


class TokenError(Exception):
    """A refusal of the token endpoint, in RFC 6749 §5.2's terms."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Account:
    """Who a token is issued to, with the claims it carries."""

    subject: str
    roles: frozenset[Role]
    officer_id: str | None = None
    department: str | None = None
    name: str | None = None


def _grant(account: Account) -> str:
    return ",".join(sorted(r.value for r in account.roles)) + "|" + (account.department or "")


def directory_roles(directory: Directory, officer: Officer) -> frozenset[Role]:
    """The role the directory gives an officer: ปลัด and นายก are the executives, a
    department's `head` heads it, everyone else is an officer."""
    if officer.id in (directory.executives.palad, directory.executives.mayor):
        return frozenset({Role.EXECUTIVE})
    if any(d.head == officer.id for d in directory.departments):
        return frozenset({Role.HEAD})
    return frozenset({Role.OFFICER})


class Credential(BaseModel):
    """One entry of the credentials file, keyed by officer id (or account / client id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    password_hash: str = Field(pattern=r"^\$argon2id\$")
    # Absent: the directory's role (officers only). Given: these, whatever the directory says.
    roles: frozenset[Role] | None = None
    # A service account: signs in by client credentials, never by the password grant.
    client: bool = False

    @model_validator(mode="after")
    def _clients_name_their_roles(self) -> Credential:
        if self.client and self.roles is None:
            raise ValueError("a client (service account) must list its roles")
        return self


_CREDENTIALS = TypeAdapter(dict[str, Credential])


def load_credentials(path: Path) -> dict[str, Credential]:
    """`{<id>: {password_hash: $argon2id$..., roles: [...], client: false}}`."""
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        return _CREDENTIALS.validate_python(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise IssuerMisconfigured(f"credentials file {path}: {exc}") from exc


@dataclass(frozen=True)
class _Login:
    account: Account
    password_hash: str | None  # None: the published demo password (dev only)


# --------------------------------------------------------------------------- signing key


@dataclass(frozen=True)
class SigningKey:
    private_key: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (TypeError, ValueError) as exc:
            raise IssuerMisconfigured(f"the signing key is not an unencrypted PEM: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise IssuerMisconfigured("the signing key must be an EC P-256 key (ES256)")
        return cls(key, _thumbprint(key))

    @classmethod
    def generate(cls) -> SigningKey:
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(key, _thumbprint(key))

    def pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def public_jwk(self) -> dict[str, Any]:
        jwk = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}


def _thumbprint(key: ec.EllipticCurvePrivateKey) -> str:
    """RFC 7638's JWK thumbprint as the key id: the same key always has the same kid, and a
    new key a new one, so verifiers notice a rotation."""
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    members = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    digest = hashlib.sha256(members.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signing_key_of(settings: RoutingSettings) -> SigningKey:
    pem = settings.oidc_signing_key.get_secret_value()
    if not pem and settings.oidc_signing_key_file:
        try:
            pem = Path(settings.oidc_signing_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise IssuerMisconfigured(f"RUAM_OIDC_SIGNING_KEY_FILE: {exc}") from exc
    if pem:
        # An environment file often carries a PEM on one line with literal \n.
        return SigningKey.from_pem(pem.replace("\\n", "\n"))
    if settings.env == "dev":
        log.warning("no RUAM_OIDC_SIGNING_KEY: signing with a key made now (dev only)")
        return SigningKey.generate()
    raise IssuerMisconfigured(
        "the built-in issuer needs RUAM_OIDC_SIGNING_KEY or RUAM_OIDC_SIGNING_KEY_FILE outside "
        "RUAM_ENV=dev (python -m services.routing.identity keygen makes one), or "
        "ROUTING_BUILTIN_ISSUER=false when another provider signs the tokens"
    )


# --------------------------------------------------------------------------- issuer


class Issuer:
    def __init__(
        self,
        issuer_url: str,
        audience: str,
        org_id: str,
        directories: DirectorySource,
        key: SigningKey,
        *,
        credentials: Mapping[str, Credential] | None,
        dev: bool,
        token_seconds: int = 900,
        hasher: PasswordHasher | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.issuer_url = issuer_url  # `iss` exactly as the verifiers are told it
        self._base = issuer_url.rstrip("/")
        self.audience = audience
        self.org_id = org_id
        self.token_seconds = token_seconds
        self._directories = directories
        self._key = key
        self._credentials = credentials
        self._dev = dev
        # The demo accounts exist only in dev, and only when no real credentials were given.
        self._demo = dev and credentials is None
        self._hasher = hasher or PasswordHasher()
        self._now = now
        self._demo_hash: str | None = None  # made on first use: a start must not pay for it
        self._hashing = asyncio.Semaphore(CONCURRENT_HASHES)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_url,
            "jwks_uri": f"{self._base}/jwks",
            "token_endpoint": f"{self._base}/token",
            "grant_types_supported": ["password", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
            "claims_supported": list(CLAIMS),
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.public_jwk()]}

    async def password_grant(self, username: str, password: str) -> dict[str, Any]:
        self._refuse_demo_password(password)
        login = self._person(username)
        if not await self._verified(login, password) or login is None:
            raise TokenError("invalid_grant", "wrong username or password")
        if not login.account.roles:
            raise TokenError("invalid_grant", f"{username} has no role here")
        return self._token(login.account)

    async def client_credentials(self, client_id: str, secret: str) -> dict[str, Any]:
        self._refuse_demo_password(secret)
        login = self._client(client_id)
        if not await self._verified(login, secret) or login is None:
            # RFC 6749 §5.2: a client that fails to authenticate is invalid_client, 401.
            raise TokenError("invalid_client", "unknown client or wrong secret", 401)
        return self._token(login.account, client_id=client_id)

    # -- who -------------------------------------------------------------------------

    def _person(self, username: str) -> _Login | None:
        directory = self._directories.get(self.org_id)
        officer = directory.officer(username)
        if officer is not None and officer.status is OfficerStatus.INACTIVE:
            return None  # moved away or retired: kept in the directory, not let in
        if self._demo:
            if officer is not None:
                return _Login(_officer(officer, directory_roles(directory, officer)), None)
            role = DEV_ACCOUNTS.get(username)
            if role is None:
                return None
            return _Login(Account(username, frozenset({role}), name=username), None)
        credential = (self._credentials or {}).get(username)
        if credential is None or credential.client:
            return None
        if officer is None:
            return _Login(
                Account(username, credential.roles or frozenset(), name=username),
                credential.password_hash,
            )
        roles = credential.roles
        if roles is None:
            roles = directory_roles(directory, officer)
        return _Login(_officer(officer, roles), credential.password_hash)

    def accounts(self) -> dict[str, str]:
        """Everyone who can sign in now, with what they get: `roles|department` by id.
        What the audit trail compares to notice a role change (`services/routing/roles.py`)."""
        directory = self._directories.get(self.org_id)
        ids = [o.id for o in directory.officers]
        if self._demo:
            ids += [*DEV_ACCOUNTS]
        else:
            ids += [k for k, c in (self._credentials or {}).items() if not c.client]
        out: dict[str, str] = {}
        for username in ids:
            login = self._person(username)
            if login is not None:
                out[username] = _grant(login.account)
        for client_id in [DEV_CLIENT] if self._demo else list(self._credentials or {}):
            login = self._client(client_id)
            if login is not None:
                out[client_id] = _grant(login.account)
        return out

    def _client(self, client_id: str) -> _Login | None:
        if self._demo:
            if client_id != DEV_CLIENT:
                return None
            return _Login(Account(DEV_CLIENT, DEV_CLIENT_ROLES, name=DEV_CLIENT), None)
        credential = (self._credentials or {}).get(client_id)
        if credential is None or not credential.client:
            return None
        account = Account(client_id, credential.roles or frozenset(), name=client_id)
        return _Login(account, credential.password_hash)

    # -- passwords -------------------------------------------------------------------

    def _refuse_demo_password(self, password: str) -> None:
        if not self._dev and password == DEMO_PASSWORD:
            raise TokenError(
                "invalid_grant", "the published demo password is refused outside RUAM_ENV=dev"
            )

    async def _verified(self, login: _Login | None, password: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(self._verify, login, password)

    def _verify(self, login: _Login | None, password: str) -> bool:
        # An unknown name costs a hash as a known one does, so timing does not tell who has
        # an account; the demo password's hash serves as the decoy (it is refused outside
        # dev before this, and a match without a login is no match).
        stored = login.password_hash if login is not None else None
        try:
            matched = self._hasher.verify(stored or self._demo_hash_once(), password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and login is not None

    def _demo_hash_once(self) -> str:
        if self._demo_hash is None:
            self._demo_hash = self._hasher.hash(DEMO_PASSWORD)
        return self._demo_hash

    # -- tokens ----------------------------------------------------------------------

    def _token(self, account: Account, *, client_id: str | None = None) -> dict[str, Any]:
        issued = int(self._now())
        claims: dict[str, Any] = {
            "iss": self.issuer_url,
            "aud": self.audience,
            "sub": account.subject,
            "iat": issued,
            "exp": issued + self.token_seconds,
            "jti": uuid.uuid4().hex,
            "org_id": self.org_id,
            "roles": sorted(r.value for r in account.roles),
        }
        optional = {
            "department": account.department,
            "officer_id": account.officer_id,
            "name": account.name,
            "client_id": client_id,
        }
        claims.update({k: v for k, v in optional.items() if v is not None})
        token = jwt.encode(
            claims,
            self._key.private_key,
            algorithm=ALGORITHM,
            # RFC 9068's type of an access token: never mistaken for an ID token.
            headers={"kid": self._key.kid, "typ": "at+jwt"},
        )
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds}


def _officer(officer: Officer, roles: frozenset[Role]) -> Account:
    return Account(
        officer.id, roles, officer_id=officer.id, department=officer.department, name=officer.name
    )


def create_issuer(
    settings: RoutingSettings, directories: DirectorySource, *, hasher: PasswordHasher | None = None
) -> Issuer:
    """The issuer routing serves, from its settings; `IssuerMisconfigured` if it cannot be."""
    if urlsplit(settings.oidc_issuer).path.rstrip("/") != PATH:
        raise IssuerMisconfigured(
            f"RUAM_OIDC_ISSUER is {settings.oidc_issuer}, but routing serves its issuer under "
            f"{PATH}; set ROUTING_BUILTIN_ISSUER=false when another provider signs the tokens"
        )
    key = signing_key_of(settings)
    credentials = None
    if settings.credentials_file:
        credentials = load_credentials(Path(settings.credentials_file))
    elif settings.env != "dev":
        log.warning("no RUAM_CREDENTIALS_FILE: nobody can sign in with the built-in issuer")
    return Issuer(
        settings.oidc_issuer,
        settings.oidc_audience,
        settings.org_id,
        directories,
        key,
        credentials=credentials,
        dev=settings.env == "dev",
        token_seconds=settings.access_token_seconds,
        hasher=hasher,
    )


# --------------------------------------------------------------------------- CLI


def _read_password() -> str:
    if not sys.stdin.isatty():  # piped: one line, for scripts
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass("password: ")
    if password != getpass.getpass("again: "):
        raise SystemExit("the two passwords differ")
    return password


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.routing.identity")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("hash", help="print the argon2id hash of a password (asked, or stdin)")
    commands.add_parser("keygen", help="print a new ES256 signing key (PEM)")
    args = parser.parse_args(argv)
    if args.command == "hash":
        password = _read_password()
        if not password:
            raise SystemExit("an empty password")
        if password == DEMO_PASSWORD:
            raise SystemExit("the demo password is published: choose another")
        print(PasswordHasher().hash(password))
    else:
        print(SigningKey.generate().pem(), end="")


if __name__ == "__main__":
    main()
