"""Settings shared by every service; each service subclasses `ServiceSettings`.

Values come from environment variables. The unprefixed names (KAFKA_BOOTSTRAP_SERVERS,
MONGODB_URL, RUAM_ORG, ...) are shared by all four services; a service's own knobs use
its prefix (INTAKE_HTTP_PORT, ROUTING_HTTP_PORT, ...), so one environment can start all
four without collisions.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.bus import DEV_PASSWORDS

T = TypeVar("T")

# Case-number prefixes of the organisations we ship a directory for; another
# organisation sets RUAM_CASE_PREFIX.
KNOWN_PREFIXES = {"sraphonthong": "SPT"}


def shared_field(default: T, env: str) -> T:
    """A field read from an unprefixed environment variable.

    Typed as its default, as pydantic's own `Field` is at a class attribute.
    """
    field: T = Field(default=default, validation_alias=AliasChoices(env, env.lower()))
    return field


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "ruam"
    # "dev" only on a developer's or CI's machine (the local stack sets it): the built-in
    # demo secrets are accepted there and nowhere else.
    env: str = shared_field("production", "RUAM_ENV")
    kafka_bootstrap_servers: str = shared_field("127.0.0.1:9092", "KAFKA_BOOTSTRAP_SERVERS")
    # Who the service is on the bus: its own principal, which the broker's ACLs confine to
    # its topics (shared/bus.py; docs/auth.md, "The bus"). No username: no SASL, for
    # FastStream's in-memory test broker or a cluster that knows clients by TLS certificate.
    kafka_sasl_username: str = shared_field("", "KAFKA_SASL_USERNAME")
    kafka_sasl_password: str = shared_field("", "KAFKA_SASL_PASSWORD")
    kafka_sasl_mechanism: str = shared_field("SCRAM-SHA-256", "KAFKA_SASL_MECHANISM")
    # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; empty: SASL_PLAINTEXT with a username,
    # else PLAINTEXT. Production uses SASL_SSL (or SSL), trusting KAFKA_SSL_CAFILE if given.
    kafka_security_protocol: str = shared_field("", "KAFKA_SECURITY_PROTOCOL")
    kafka_ssl_cafile: str = shared_field("", "KAFKA_SSL_CAFILE")
    mongodb_url: str = shared_field("mongodb://127.0.0.1:27017", "MONGODB_URL")
    mongodb_database: str = shared_field("ruam", "MONGODB_DATABASE")
    # Connections (so requests under way) per service: see shared.mongo.MAX_POOL_SIZE.
    mongodb_max_pool_size: int = shared_field(10, "MONGODB_MAX_POOL_SIZE")
    org_id: str = shared_field("sraphonthong", "RUAM_ORG")
    case_prefix: str = shared_field("", "RUAM_CASE_PREFIX")
    # Isolates test runs that share one broker; empty in production.
    topic_prefix: str = shared_field("", "RUAM_TOPIC_PREFIX")
    # 1 on the single local broker; 3 on a production cluster.
    topic_replication_factor: int = shared_field(1, "RUAM_TOPIC_REPLICATION_FACTOR")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Attempts before a message that keeps failing is dead-lettered.
    max_delivery_attempts: int = shared_field(4, "RUAM_MAX_DELIVERY_ATTEMPTS")
    retry_backoff_seconds: float = shared_field(0.2, "RUAM_RETRY_BACKOFF_SECONDS")
    # How often the outbox relay looks for events that were stored but not yet published.
    outbox_sweep_seconds: float = shared_field(2.0, "RUAM_OUTBOX_SWEEP_SECONDS")
    # Messages of one consumer handled at once, those of one key always one after the
    # other (shared.kafka.KeyedPipeline); 1 handles a partition strictly in order.
    consumer_concurrency: int = shared_field(64, "RUAM_CONSUMER_CONCURRENCY")
    # How long the producer waits to send what was published together in one request
    # (docs/storage.md, "Kafka requests"): 0 sends each message on its own.
    kafka_linger_ms: int = shared_field(5, "KAFKA_LINGER_MS")
    # How long the broker holds a consumer's fetch while none of its partitions has a new
    # record: a record ends the wait at once, so this only sets how often an idle consumer
    # asks again (docs/storage.md, "Idle consumers").
    kafka_fetch_max_wait_ms: int = shared_field(5000, "KAFKA_FETCH_MAX_WAIT_MS")
    # Where reports enter the pipeline (subscribe(..., gather=True)), the broker holds a
    # fetch until this many bytes wait or this many ms passed, so reports that come close
    # together go through every stage together (docs/storage.md, "Convoys"); 0 takes each
    # record at once.
    kafka_gather_ms: int = shared_field(100, "KAFKA_GATHER_MS")
    kafka_gather_bytes: int = shared_field(65_536, "KAFKA_GATHER_BYTES")
    # Where traces go (shared.tracing): "" (none), "console" or "otlp".
    trace_exporter: str = shared_field("", "RUAM_TRACE_EXPORTER")
    # Log lines as JSON (shared.logs), or "text" for a person at a terminal.
    log_format: str = shared_field("json", "RUAM_LOG_FORMAT")
    # How often the operator's gauges (lag, outbox, dead letters) are computed (shared.ops).
    ops_every_seconds: float = shared_field(15.0, "RUAM_OPS_EVERY_SECONDS")
    auto_offset_reset: str = shared_field("earliest", "RUAM_AUTO_OFFSET_RESET")
    # Per-client HTTP rate limit (shared.limits; docs/limits.md): requests a second and at
    # once per client; 0 turns it off. Far above a person at a form, far below a flood.
    rate_limit_per_second: float = shared_field(50.0, "RUAM_RATE_LIMIT_PER_SECOND")
    rate_limit_burst: int = shared_field(200, "RUAM_RATE_LIMIT_BURST")
    # Clients remembered at once; the least recently seen are forgotten (a full bucket again).
    rate_limit_clients: int = shared_field(10_000, "RUAM_RATE_LIMIT_CLIENTS")
    # Addresses never limited, comma-separated (CIDR or single). Loopback: the local stack's
    # demo and chaos tools post a thousand reports from this machine as fast as they can.
    rate_limit_exempt: str = shared_field("127.0.0.0/8,::1", "RUAM_RATE_LIMIT_EXEMPT")
    # A signed-in caller is limited by the token's verified subject, not its address (many
    # clerks share an office's address); a token that does not verify names no client.
    rate_limit_by_token: bool = shared_field(True, "RUAM_RATE_LIMIT_BY_TOKEN")
    # Reverse proxies in front of the service that append to X-Forwarded-For; 0 trusts none
    # and keys clients by the peer address.
    trusted_proxy_hops: int = shared_field(0, "RUAM_TRUSTED_PROXY_HOPS")
    # Who signs the bearer tokens every service accepts (shared.auth, docs/auth.md): an
    # OpenID Connect issuer, by default the built-in one that routing serves. An SAO with its
    # own identity provider (Keycloak, Entra ID, ...) names it here, and the audience its
    # tokens are minted for.
    oidc_issuer: str = shared_field("http://127.0.0.1:8002/oidc", "RUAM_OIDC_ISSUER")
    oidc_audience: str = shared_field("ruam", "RUAM_OIDC_AUDIENCE")

    @model_validator(mode="after")
    def _no_dev_kafka_password_outside_dev(self) -> ServiceSettings:
        if self.kafka_sasl_password in DEV_PASSWORDS.values() and self.env != "dev":
            raise ValueError(
                "KAFKA_SASL_PASSWORD holds a published dev password; set the principal's own "
                "(the dev passwords are accepted only with RUAM_ENV=dev)"
            )
        return self

    @property
    def api_keys(self) -> frozenset[str]:
        """The API keys this service issued: a request with one is its own client for the
        rate limit. None here; intake has Open311's."""
        return frozenset()

    @property
    def org_prefix(self) -> str:
        if self.case_prefix:
            return self.case_prefix
        return KNOWN_PREFIXES.get(self.org_id, self.org_id[:3].upper())

    def group_id(self, purpose: str) -> str:
        """Consumer groups are explicit and namespaced like topics."""
        return f"{self.topic_prefix}ruam.{self.service_name}.{purpose}"


class WebSettings(ServiceSettings):
    """A service that serves pages and calls the other services' HTTP APIs (the portal, the
    console): each one found by its URL (<PREFIX>_<NAME>_URL), or on this host at the port
    the stack gives it (<NAME>_HTTP_PORT)."""

    routing_url: str = ""
    intake_url: str = ""
    survey_url: str = ""
    compliance_url: str = ""
    insight_url: str = ""
    routing_port: int = shared_field(8002, "ROUTING_HTTP_PORT")
    intake_port: int = shared_field(8001, "INTAKE_HTTP_PORT")
    survey_port: int = shared_field(8003, "SURVEY_HTTP_PORT")
    compliance_port: int = shared_field(8004, "COMPLIANCE_HTTP_PORT")
    insight_port: int = shared_field(8007, "INSIGHT_HTTP_PORT")
    # Seconds a page waits for another service before telling its reader to try later.
    upstream_timeout_seconds: float = 10.0

    def url_of(self, service: str) -> str:
        given = str(getattr(self, f"{service}_url"))
        if given:
            return given.rstrip("/")
        return f"http://127.0.0.1:{getattr(self, f'{service}_port')}"
