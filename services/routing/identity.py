"""The built-in OpenID Connect issuer, for the SAOs without an identity provider of their own.

Routing owns the organisation directory, so it knows who the officers are; this module signs
them in (RFC 6749's password grant; service accounts by client credentials; people at a
browser by the authorization code flow with PKCE, RFC 7636, for the officers' console) and
hands out short-lived ES256 access tokens. It publishes its discovery document and JWKS like any
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
import hmac
import json
import logging
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

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
# The officers' console (services/console/): a browser client of the authorization code
# flow. It may also hold a secret, but PKCE is what binds a code to the browser that asked.
CONSOLE_CLIENT = "ruam-console"
# A code is exchanged by the client's back end at once; a minute covers a slow network.
CODE_SECONDS = 60
# Codes handed out and not yet exchanged, at most: a flood of sign-ins cannot grow memory.
MAX_PENDING_CODES = 10_000
# A refresh token keeps a console session alive through a working day; the account is looked
# up again at each refresh, so one moved away or retired is refused at the next.
REFRESH_SECONDS = 10 * 3600
REFRESH_TYPE = "refresh+jwt"
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


class AuthorizeError(Exception):
    """A refusal of the authorization endpoint (RFC 6749 §4.1.2.1). `redirect` is False
    when the client or its redirect URI cannot be trusted: then the error is shown to the
    person at the browser, never sent to an address the request named."""

    def __init__(self, error: str, description: str, *, redirect: bool = True) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect = redirect


@dataclass(frozen=True)
class AuthorizeRequest:
    """What a client asks of the authorization endpoint, checked."""

    client_id: str
    redirect_uri: str
    state: str
    code_challenge: str
    nonce: str | None
    scope: str

    def params(self) -> dict[str, str]:
        """The request again, as the sign-in form carries it to its POST."""
        out = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
            "scope": self.scope,
        }
        if self.nonce is not None:
            out["nonce"] = self.nonce
        return out

    def answer(self, **params: str) -> str:
        """The client's redirect URI with `params` and the state (and, RFC 9207, the issuer
        once the caller adds it)."""
        sep = "&" if "?" in self.redirect_uri else "?"
        return self.redirect_uri + sep + urlencode({**params, "state": self.state})


@dataclass(frozen=True)
class _Code:
    account: Account
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    expires: float


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _pkce_value(value: str | None, name: str) -> str:
    # RFC 7636 §4.1: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~].
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    if value is None or not 43 <= len(value) <= 128 or not set(value) <= allowed:
        raise TokenError("invalid_grant", f"{name} must be 43-128 unreserved characters")
    return value


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
        clients: Mapping[str, frozenset[str]] | None = None,
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
        # Browser clients of the authorization code flow: client id -> its redirect URIs,
        # matched exactly (RFC 9700 §4.1.3: no patterns, no prefixes).
        self.clients: Mapping[str, frozenset[str]] = clients or {}
        # By the code's SHA-256: a memory dump does not hand out usable codes. In this
        # process only: the built-in issuer runs as one routing replica (docs/auth.md).
        self._codes: dict[str, _Code] = {}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_url,
            "jwks_uri": f"{self._base}/jwks",
            "authorization_endpoint": f"{self._base}/authorize",
            "token_endpoint": f"{self._base}/token",
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "password",
                "client_credentials",
            ],
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_post",
                "client_secret_basic",
            ],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile"],
            "authorization_response_iss_parameter_supported": True,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
            "claims_supported": list(CLAIMS),
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.public_jwk()]}

    async def password_grant(self, username: str, password: str) -> dict[str, Any]:
        return self._token(await self.authenticate(username, password))

    async def authenticate(self, username: str, password: str) -> Account:
        """The account of a person's user name and password, checked as the password grant
        checks them (the sign-in form of the authorization endpoint uses the same)."""
        self._refuse_demo_password(password)
        login = self._person(username)
        if not await self._verified(login, password) or login is None:
            raise TokenError("invalid_grant", "wrong username or password")
        if not login.account.roles:
            raise TokenError("invalid_grant", f"{username} has no role here")
        return login.account

    # -- the authorization code flow (RFC 6749 §4.1, PKCE RFC 7636, OpenID Connect) -------

    def authorize_request(self, params: Mapping[str, str]) -> AuthorizeRequest:
        """The checked request of a browser client; `AuthorizeError` says what is wrong.
        The client and its redirect URI are checked first: until both are known good,
        nothing is sent back to the address the request names."""
        client_id = params.get("client_id", "")
        uris = self.clients.get(client_id)
        if uris is None:
            raise AuthorizeError("unauthorized_client", "unknown client_id", redirect=False)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in uris:
            raise AuthorizeError(
                "invalid_request", "redirect_uri is not registered for this client", redirect=False
            )
        state = params.get("state", "")
        if not state or len(state) > 512:
            raise AuthorizeError("invalid_request", "state is required (at most 512 characters)")
        if params.get("response_type") != "code":
            raise AuthorizeError("unsupported_response_type", "only response_type=code")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not challenge:
            raise AuthorizeError(
                "invalid_request", "PKCE with code_challenge_method=S256 is required"
            )
        if len(challenge) != 43:  # an unpadded base64url SHA-256
            raise AuthorizeError("invalid_request", "code_challenge is not an S256 challenge")
        scope = params.get("scope", "openid")
        if "openid" not in scope.split():
            raise AuthorizeError("invalid_scope", "scope must include openid")
        nonce = params.get("nonce") or None
        if nonce is not None and len(nonce) > 512:
            raise AuthorizeError("invalid_request", "nonce is longer than 512 characters")
        return AuthorizeRequest(client_id, redirect_uri, state, challenge, nonce, scope)

    def issue_code(self, account: Account, request: AuthorizeRequest) -> str:
        """A one-time code for `account`, bound to the client, its redirect URI, the PKCE
        challenge and the nonce; good for CODE_SECONDS."""
        now = self._now()
        for key in [k for k, c in self._codes.items() if c.expires <= now]:
            del self._codes[key]
        if len(self._codes) >= MAX_PENDING_CODES:
            raise AuthorizeError("temporarily_unavailable", "too many sign-ins at once")
        code = secrets.token_urlsafe(32)
        self._codes[_code_key(code)] = _Code(
            account,
            request.client_id,
            request.redirect_uri,
            request.code_challenge,
            request.nonce,
            now + CODE_SECONDS,
        )
        return code

    def code_grant(
        self, client_id: str, code: str, redirect_uri: str, verifier: str | None
    ) -> dict[str, Any]:
        """RFC 6749 §4.1.3 with RFC 7636 §4.6: the code is gone after this call whatever its
        outcome, so a code seen by anyone else is worth nothing a second time."""
        kept = self._codes.pop(_code_key(code), None)
        if kept is None or kept.expires <= self._now():
            raise TokenError("invalid_grant", "unknown, used or expired code")
        if kept.client_id != client_id:
            raise TokenError("invalid_grant", "the code was issued to another client")
        if kept.redirect_uri != redirect_uri:
            raise TokenError("invalid_grant", "redirect_uri differs from the authorization request")
        given = s256(_pkce_value(verifier, "code_verifier"))
        if not hmac.compare_digest(given, kept.code_challenge):
            raise TokenError("invalid_grant", "code_verifier does not match the code_challenge")
        return self._browser_tokens(kept.account, client_id, kept.nonce)

    def refresh_grant(self, client_id: str, refresh_token: str) -> dict[str, Any]:
        """New tokens for a session that is still wanted; the account as it is now."""
        try:
            claims = jwt.decode(
                refresh_token,
                self._key.private_key.public_key(),
                algorithms=[ALGORITHM],
                audience=self.issuer_url,
                issuer=self.issuer_url,
                options={"require": ["exp", "sub", "client_id"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError("invalid_grant", f"the refresh token does not verify: {exc}") from exc
        if claims.get("token_use") != "refresh" or claims.get("client_id") != client_id:
            raise TokenError("invalid_grant", "not a refresh token of this client")
        login = self._person(str(claims["sub"]))
        if login is None or not login.account.roles:
            raise TokenError("invalid_grant", "the account can no longer sign in")
        return self._browser_tokens(login.account, client_id, None)

    def _browser_tokens(
        self, account: Account, client_id: str, nonce: str | None
    ) -> dict[str, Any]:
        body = self._token(account)
        issued = int(self._now())
        identity: dict[str, Any] = {
            "iss": self.issuer_url,
            "aud": client_id,
            "sub": account.subject,
            "iat": issued,
            "exp": issued + self.token_seconds,
            "auth_time": issued,
            "preferred_username": account.subject,
        }
        if account.name:
            identity["name"] = account.name
        if nonce is not None:
            identity["nonce"] = nonce
        refresh = {
            "iss": self.issuer_url,
            "aud": self.issuer_url,  # never an access token for the services' audience
            "sub": account.subject,
            "client_id": client_id,
            "token_use": "refresh",
            "iat": issued,
            "exp": issued + REFRESH_SECONDS,
            "jti": uuid.uuid4().hex,
        }
        key, kid = self._key.private_key, self._key.kid
        return {
            **body,
            "id_token": jwt.encode(identity, key, algorithm=ALGORITHM, headers={"kid": kid}),
            "refresh_token": jwt.encode(
                refresh, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": REFRESH_TYPE}
            ),
            "refresh_expires_in": REFRESH_SECONDS,
            "scope": "openid profile",
        }

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


def _code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


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
        clients={CONSOLE_CLIENT: settings.console_redirect_uris()},
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
