"""What verifying a bearer token costs a request: `python -m tools.bench_auth [-n N]`.

In one process, with no broker, no database and no network (the JWKS comes from an issuer
served in-process, fetched once before timing starts):
  (a) `TokenVerifier.verify` on N tokens, ES256 (the built-in issuer's) and RS256 (Keycloak's
      and Entra ID's default), with a warm key cache: µs per verification;
  (b) a Starlette request through httpx's ASGI transport, to an endpoint that answers at
      once and to the same endpoint calling `shared.auth.principal()`: µs per request each,
      and the difference.
The figures go in docs/auth.md; numbers from a busy machine are upper bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.auth import TokenVerifier, principal
from shared.http import exception_handlers

ISSUER = "http://issuer.bench/oidc"
AUDIENCE = "ruam"
TOKENS = 200  # distinct tokens, cycled: nothing is cached per token, but be fair anyway


def _issuer(keys: list[dict[str, Any]]) -> Callable[[], httpx.AsyncClient]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        return httpx.Response(200, json={"keys": keys})

    return lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _tokens(key: Any, alg: str, kid: str) -> list[str]:
    now = int(time.time())
    return [
        jwt.encode(
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": f"officer-{i}",
                "iat": now,
                "exp": now + 3600,
                "jti": str(i),
                "org_id": "sraphonthong",
                "department": "engineering",
                "officer_id": f"officer-{i}",
                "roles": ["officer"],
            },
            key,
            algorithm=alg,
            headers={"kid": kid},
        )
        for i in range(TOKENS)
    ]


async def _per_call_us(call: Callable[[int], Awaitable[object]], n: int, rounds: int) -> float:
    """The best of `rounds` means: the least disturbed by whatever else the machine runs."""
    means = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(n):
            await call(i)
        means.append((time.perf_counter() - started) / n * 1e6)
    return min(means)


async def bench(n: int, rounds: int) -> dict[str, float]:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = [
        {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "ec", "use": "sig"},
        {**RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "rsa", "use": "sig"},
    ]
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=_issuer(keys))
    es256 = _tokens(ec_key, "ES256", "ec")
    rs256 = _tokens(rsa_key, "RS256", "rsa")
    await verifier.verify(es256[0])  # warm: discovery and JWKS fetched here, not timed

    results = {
        "verify_es256_us": await _per_call_us(
            lambda i: verifier.verify(es256[i % TOKENS]), n, rounds
        ),
        "verify_rs256_us": await _per_call_us(
            lambda i: verifier.verify(rs256[i % TOKENS]), n, rounds
        ),
    }

    async def plain(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def signed_in(request: Request) -> Response:
        who = await principal(request)
        return JSONResponse({"ok": True, "sub": who.subject})

    app = Starlette(
        routes=[Route("/plain", plain), Route("/signed-in", signed_in)],
        exception_handlers=exception_handlers({}),
    )
    app.state.verifier = verifier
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        headers = [{"Authorization": f"Bearer {t}"} for t in es256]

        async def get(path: str, i: int) -> None:
            response = await client.get(path, headers=headers[i % TOKENS])
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text}")

        requests = max(n // 5, 200)  # a request through httpx costs far more than a verify
        plain_us, signed_us = [], []
        for _ in range(rounds):  # interleaved, so both see the same load on the machine
            plain_us.append(await _per_call_us(lambda i: get("/plain", i), requests, 1))
            signed_us.append(await _per_call_us(lambda i: get("/signed-in", i), requests, 1))
        results["request_plain_us"] = min(plain_us)
        results["request_signed_in_us"] = min(signed_us)
    results["request_overhead_us"] = results["request_signed_in_us"] - results["request_plain_us"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="verifications per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is reported")
    args = parser.parse_args()
    results = asyncio.run(bench(args.n, args.rounds))
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:8.1f} µs")
    overhead = results["request_overhead_us"] / results["request_plain_us"]
    print(f"principal() adds {overhead:.0%} to a trivial request")


if __name__ == "__main__":
    main()
