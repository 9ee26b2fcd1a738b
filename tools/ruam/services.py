"""The services as the `ruam` command line sees them: where they answer, how it signs in,
and what their `/healthz` and `/metrics` say."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from deploy.local import stack
from shared.topics import SERVICES
from tools.accounts import Accounts, SignInRefused

# Exit codes, for scripts (README, "Operations").
EXIT_OK = 0
EXIT_ATTENTION = 1  # answered, and something needs an operator (dead letters, a stale outbox)
EXIT_USAGE = 2  # the command line itself is wrong (Typer's own code)
EXIT_UNAVAILABLE = 3  # a service is down, unreachable or unhealthy, or sign-in is impossible
EXIT_NOT_FOUND = 4  # no such letter or case
EXIT_REFUSED = 5  # the service refused: not allowed now (409), or not for this account (403)

# The outbox alert's threshold (deploy/prometheus/alerts.yml, RuamOutboxStale).
OUTBOX_STALE_SECONDS = 60.0


class Failure(Exception):
    """What the command reports before it exits with `code`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class Addresses:
    """Base URLs of the services and the issuer to sign in at.

    The ports are the stack's (deploy/local/stack.py `get_profile`): the local profile reads
    the same `<SERVICE>_HTTP_PORT` variables the stack sets for tools, another profile its
    own; `RUAM_HOST` names another host, `RUAM_OIDC_ISSUER` another issuer.
    """

    urls: Mapping[str, str]
    issuer: str
    prometheus: str  # `make up MONITORING=1`'s, or RUAM_PROMETHEUS_URL

    @classmethod
    def of(cls, profile: str = "local", env: Mapping[str, str] | None = None) -> Addresses:
        from deploy.local import prometheus

        env = os.environ if env is None else env
        found = stack.get_profile(profile)
        host = env.get("RUAM_HOST") or "127.0.0.1"
        urls = {name: f"http://{host}:{port}" for name, port in found.service_ports.items()}
        issuer = env.get("RUAM_OIDC_ISSUER") or f"{urls['routing']}/oidc"
        monitor = env.get("RUAM_PROMETHEUS_URL") or f"http://{host}:{prometheus.port_of(found)}"
        return cls(urls, issuer, monitor.rstrip("/"))

    @property
    def bus_services(self) -> list[str]:
        """The services on Kafka, each with its own dead-letter office."""
        return [name for name in self.urls if name in SERVICES]


class Services:
    """One HTTP client to every service, signing in as `account` when a call needs it."""

    def __init__(
        self,
        addresses: Addresses,
        *,
        account: str = "operator",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.addresses = addresses
        self.account = account
        self.http = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._accounts = Accounts.of(self.http, addresses.issuer)

    async def __aenter__(self) -> Services:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    def url(self, service: str, path: str) -> str:
        try:
            return self.addresses.urls[service] + path
        except KeyError:
            known = ", ".join(self.addresses.urls)
            raise Failure(EXIT_USAGE, f"no service {service!r}; one of {known}") from None

    async def _headers(self) -> dict[str, str]:
        try:
            return await self._accounts.headers(self.account)
        except SignInRefused as exc:
            raise Failure(EXIT_UNAVAILABLE, str(exc)) from exc
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise Failure(
                EXIT_UNAVAILABLE, f"cannot sign in at {self.addresses.issuer}: {exc!r}"
            ) from exc

    async def call(
        self, method: str, service: str, path: str, *, signed: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """The service's answer; a connection that fails is EXIT_UNAVAILABLE. A token the
        service refused (401, e.g. the issuer restarted) is taken again once."""
        url = self.url(service, path)
        for attempt in (1, 2):
            headers = await self._headers() if signed else {}
            try:
                response = await self.http.request(method, url, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise Failure(
                    EXIT_UNAVAILABLE, f"{service} ({url}) did not answer: {exc!r}"
                ) from exc
            if response.status_code == 401 and signed and attempt == 1:
                self._accounts.forget(self.account)
                continue
            return response
        raise AssertionError("unreachable")

    async def json(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON body when it is a success; otherwise the Failure it means."""
        response = await self.call(method, service, path, **kwargs)
        if response.is_success:
            return response.json()
        raise failure_of(response, f"{method} {service}{path}")


def failure_of(response: httpx.Response, what: str) -> Failure:
    try:
        body = response.json()
        detail = body.get("message") or body.get("error") or response.text
    except ValueError:
        detail = response.text
    message = f"{what}: {response.status_code} {str(detail)[:500]}"
    if response.status_code == 404:
        return Failure(EXIT_NOT_FOUND, message)
    if response.status_code in (401, 403, 409):
        return Failure(EXIT_REFUSED, message)
    if response.status_code >= 500:
        return Failure(EXIT_UNAVAILABLE, message)
    return Failure(EXIT_USAGE, message)


# --------------------------------------------------------------------------- status


@dataclasses.dataclass
class ServiceStatus:
    service: str
    url: str
    healthy: bool
    health: str  # "ok", "unreachable", or the status code it answered
    detail: str = ""  # why not, in full
    version: str | None = None
    lag: int | None = None  # messages behind, all groups and partitions
    lag_by_group: dict[str, int] = dataclasses.field(default_factory=dict)
    backlog: int | None = None  # versions stored whose events are not yet published
    oldest_seconds: float | None = None  # the oldest of them
    dead_letters: int | None = None  # kept, never replayed

    @property
    def needs_attention(self) -> bool:
        return bool(self.dead_letters) or (self.oldest_seconds or 0.0) > OUTBOX_STALE_SECONDS


def read_metrics(text: str, status: ServiceStatus) -> None:
    """The gauges `ruam status` shows, from a /metrics text (absent ones stay None)."""
    lag: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if sample.name == "ruam_consumer_lag":
                key = f"{labels.get('group', '?')} {labels.get('topic', '?')}"
                lag[key] = lag.get(key, 0) + int(value)
            elif sample.name == "ruam_outbox_backlog":
                status.backlog = (status.backlog or 0) + int(value)
            elif sample.name == "ruam_outbox_oldest_seconds":
                status.oldest_seconds = max(status.oldest_seconds or 0.0, value)
            elif sample.name == "ruam_dead_letters_waiting":
                status.dead_letters = (status.dead_letters or 0) + int(value)
            elif sample.name == "ruam_build_info" and value == 1:
                status.version = f"{labels.get('version', '?')} {labels.get('commit', '')}".strip()
    if lag:
        status.lag_by_group = lag
        status.lag = sum(lag.values())


async def status_of(services: Services, name: str) -> ServiceStatus:
    url = services.url(name, "")
    status = ServiceStatus(name, url, healthy=False, health="unreachable")
    try:
        health = await services.call("GET", name, "/healthz", signed=False)
    except Failure as exc:
        status.detail = str(exc)
        return status
    status.healthy = health.status_code == 200
    status.health = "ok" if status.healthy else str(health.status_code)
    if not status.healthy:
        status.detail = health.text[:500]
    try:
        metrics = await services.call("GET", name, "/metrics", signed=False)
    except Failure:
        return status
    if metrics.status_code == 200:
        read_metrics(metrics.text, status)
    return status


async def status_all(services: Services, names: Iterable[str]) -> list[ServiceStatus]:
    return list(await asyncio.gather(*(status_of(services, n) for n in names)))


def status_exit_code(statuses: Iterable[ServiceStatus]) -> int:
    statuses = list(statuses)
    if not all(s.healthy for s in statuses):
        return EXIT_UNAVAILABLE
    if any(s.needs_attention for s in statuses):
        return EXIT_ATTENTION
    return EXIT_OK


# --------------------------------------------------------------------------- alerts


async def firing_alerts(services: Services) -> list[dict[str, Any]]:
    """Prometheus' alerts, firing first, each with its labels and annotations."""
    url = services.addresses.prometheus + "/api/v1/alerts"
    try:
        response = await services.http.get(url)
    except httpx.HTTPError as exc:
        raise Failure(
            EXIT_UNAVAILABLE, f"Prometheus ({url}) did not answer: {exc!r}; make up MONITORING=1"
        ) from exc
    if not response.is_success:
        raise failure_of(response, f"GET {url}")
    alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return sorted(alerts, key=lambda a: (a.get("state") != "firing", a["labels"]["alertname"]))
