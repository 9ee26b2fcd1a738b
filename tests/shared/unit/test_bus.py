"""The table of who writes and reads each topic (shared/topics.py), against the code, and
the ACLs shared/bus.py makes of it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shared.bus import (
    DEV_PASSWORDS,
    AclBinding,
    Operation,
    Pattern,
    Resource,
    acl_bindings,
    group_prefix,
    kafka_acls_commands,
    reads,
    writes,
)
from shared.events.cases import CaseClosed
from shared.events.envelope import Envelope
from shared.kafka import subscribe
from shared.runtime import build_runtime
from shared.settings import ServiceSettings
from shared.topics import CONSOLE, PLANNING, READERS, SERVICES, WRITERS, Topic
from tests.access_matrix import services

REPO = Path(__file__).resolve().parents[3]


def envelope_classes() -> list[type[Envelope[Any]]]:
    import shared.events.audit
    import shared.events.cases
    import shared.events.compliance
    import shared.events.intake
    import shared.events.survey  # noqa: F401  (every event class, registered by import)

    found: list[type[Envelope[Any]]] = []
    pending = list(Envelope.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if isinstance(getattr(cls, "topic", None), Topic):
            found.append(cls)
    return found


def test_every_topic_has_a_writer_and_a_row_for_readers() -> None:
    assert set(WRITERS) == set(Topic) == set(READERS)
    assert all(WRITERS[t] for t in Topic), [t for t in Topic if not WRITERS[t]]
    for who in (*WRITERS.values(), *READERS.values()):
        assert who <= {*SERVICES, PLANNING, CONSOLE}
    # The console is on the bus to write the audit trail, and for nothing else.
    assert [t for t in Topic if CONSOLE in WRITERS[t] | READERS[t]] == [Topic.AUDIT_TRAIL]


def on_the_bus() -> dict[str, Any]:
    """The services on fakes that are on the bus (the console consumes no topic)."""
    return {name: built for name, built in services().items() if name in SERVICES}


def test_every_subscription_of_every_service_is_covered_by_a_read() -> None:
    seen: dict[str, set[str]] = {}
    for service, built in on_the_bus().items():
        assert built.runtime.settings.service_name == service
        for subscriber in built.runtime.broker.subscribers:
            group = subscriber.group_id
            assert group.startswith(group_prefix(service)), (service, group)
            for topic in subscriber.topic_names:
                seen.setdefault(service, set()).add(topic)
                assert Topic(topic) in reads(service), (service, topic)
    # Built on fakes, the services without storage keep no dead-letter office; each reads
    # its own dead letters when they do (shared.dead_letters.keep_dead_letters).
    for service in SERVICES:
        assert Topic(f"{service}.dlq") in reads(service)
    assert set(seen) == set(SERVICES)


def test_the_readers_read_nothing_they_do_not_subscribe_to() -> None:
    subscribed = {
        service: {Topic(t) for s in built.runtime.broker.subscribers for t in s.topic_names}
        | {Topic(f"{service}.dlq")}
        for service, built in on_the_bus().items()
    }
    for service in SERVICES:
        assert reads(service) == subscribed[service], service


def produced_by(service: str) -> set[Topic]:
    """The topics of the event classes a service's code constructs, its dead letters, and
    the audit trail (every service's dead-letter office audits its replays)."""
    source = "\n".join(p.read_text() for p in (REPO / "services" / service).rglob("*.py"))
    out = {Topic(f"{service}.dlq"), Topic.AUDIT_TRAIL}
    for cls in envelope_classes():
        if re.search(rf"\b{cls.__name__}(\(|\.caused_by\()", source):
            out.add(cls.topic)
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_the_writers_are_those_whose_code_makes_the_topics_events(service: str) -> None:
    listed = {t for t, who in WRITERS.items() if service in who}
    assert listed == produced_by(service)


def test_a_service_writes_only_its_own_topics() -> None:
    for service in SERVICES:
        own = {t for t, who in WRITERS.items() if service in who}
        assert writes(service) == own
        # What it reads of others' it may not write, not even to replay a dead letter.
        assert not (reads(service) - own) & writes(service)
    assert writes(PLANNING) == {Topic.PROJECT_EVENTS}
    assert reads(PLANNING) == set()


def test_bindings_for_a_prefix() -> None:
    bindings = acl_bindings("t1.")
    intake = {b for b in bindings if b.principal == "User:intake"}

    def topic(name: str, op: Operation) -> AclBinding:
        return AclBinding("User:intake", Resource.TOPIC, Pattern.LITERAL, name, op)

    assert topic("t1.case.received", Operation.WRITE) in intake
    assert topic("t1.case.received", Operation.DESCRIBE) in intake
    assert topic("t1.case.received", Operation.CREATE) in intake
    assert topic("t1.intake.raw", Operation.READ) in intake
    assert topic("t1.case.escalated", Operation.WRITE) not in intake
    assert topic("case.received", Operation.WRITE) not in intake
    group = AclBinding(
        "User:intake", Resource.GROUP, Pattern.PREFIXED, "t1.ruam.intake.", Operation.READ
    )
    assert group in intake
    # Nothing on the cluster, no prefixed topics, no wildcard: only the table's topics.
    assert all(b.resource != Resource.CLUSTER for b in bindings)
    assert all(
        b.pattern == Pattern.LITERAL and b.name.startswith("t1.")
        for b in bindings
        if b.resource == Resource.TOPIC
    )
    assert not any("*" in b.name for b in bindings)
    planning = {b for b in bindings if b.principal == "User:planning"}
    assert {(b.name, b.operation) for b in planning} == {
        ("t1.project.events", Operation.WRITE),
        ("t1.project.events", Operation.DESCRIBE),
    }


def test_a_services_group_prefix_is_its_settings_group_id() -> None:
    settings = ServiceSettings(service_name="survey", topic_prefix="t1.")
    assert settings.group_id("case-resolved").startswith(group_prefix("survey", "t1."))


def test_kafka_acls_commands_for_production() -> None:
    lines = kafka_acls_commands(acl_bindings(""), "kafka:9092", "/etc/kafka/admin.properties")
    assert (
        "kafka-acls.sh --bootstrap-server kafka:9092 --command-config /etc/kafka/admin.properties"
        " --add --allow-principal User:intake --operation Write --operation Create"
        " --operation Describe --topic public.cases --resource-pattern-type literal"
    ) in lines
    # A topic a service writes and reads (intake keeps the LINE photos of its own receipts).
    assert any(
        "User:intake --operation Read --operation Write --operation Create --operation Describe"
        " --topic case.received " in line
        for line in lines
    )
    assert any(
        "--allow-principal User:routing --operation Read --group ruam.routing. "
        "--resource-pattern-type prefixed" in line
        for line in lines
    )


def test_the_dev_kafka_passwords_are_refused_outside_dev() -> None:
    with pytest.raises(ValueError, match="KAFKA_SASL_PASSWORD"):
        ServiceSettings(env="production", kafka_sasl_password=DEV_PASSWORDS["intake"])
    ServiceSettings(env="production", kafka_sasl_password="the-cluster's-own")
    ServiceSettings(env="dev", kafka_sasl_password=DEV_PASSWORDS["intake"])


def test_client_options_name_the_principal_or_none() -> None:
    from shared.kafka import client_options

    assert client_options(ServiceSettings()) == {"security_protocol": "PLAINTEXT"}
    own = client_options(ServiceSettings(kafka_sasl_username="intake", kafka_sasl_password="pw"))
    assert own == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "intake",
        "sasl_plain_password": "pw",
    }
    tls = client_options(
        ServiceSettings(
            kafka_sasl_username="intake",
            kafka_sasl_password="pw",
            kafka_security_protocol="sasl_ssl",
            kafka_sasl_mechanism="SCRAM-SHA-512",
        )
    )
    assert tls["security_protocol"] == "SASL_SSL" and tls["sasl_mechanism"] == "SCRAM-SHA-512"
    assert tls["ssl_context"] is not None


def test_tools_connect_as_the_dev_admin_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.kafka import client_options

    monkeypatch.delenv("KAFKA_SASL_USERNAME", raising=False)
    monkeypatch.delenv("KAFKA_SASL_PASSWORD", raising=False)
    assert client_options()["sasl_plain_username"] == "admin"
    assert client_options()["sasl_plain_password"] == DEV_PASSWORDS["admin"]
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "")
    assert client_options() == {"security_protocol": "PLAINTEXT"}
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "ops")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "secret")
    assert client_options()["sasl_plain_username"] == "ops"


def test_the_broker_gets_the_same_principal() -> None:
    from faststream.security import SASLScram256

    from shared.kafka import broker_security

    assert broker_security(ServiceSettings()) is None
    security = broker_security(
        ServiceSettings(kafka_sasl_username="routing", kafka_sasl_password="pw")
    )
    assert isinstance(security, SASLScram256)
    assert (security.username, security.password, security.use_ssl) == ("routing", "pw", False)


def test_a_second_subscription_to_one_topic_in_a_service_is_refused() -> None:
    # A record's handler, its dead letters' replay and its order are found by its topic, so
    # a second subscription would silently take the first one's records.
    runtime = build_runtime(ServiceSettings(service_name="intake"), with_mongo=False)

    async def handler(event: object) -> None:
        return None

    subscribe(runtime, CaseClosed, "case-closed", handler)
    with pytest.raises(ValueError, match="one subscription per topic"):
        subscribe(runtime, CaseClosed, "another-use", handler)
    assert list(runtime.groups.values()) == [Topic.CASE_CLOSED.value]
