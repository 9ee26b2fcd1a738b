"""shared.ops: the operator's gauges, computed on a schedule and read by a scrape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from shared.dead_letters import MongoDeadLetters
from shared.mongo import Document
from shared.ops import Backlog, OpsGauges, certificate_expiry, consumer_lag, each
from shared.store import AggregateStore, Cas
from tests.fakes import FakePublisher
from tests.shared.unit.fakes_mongo import FakeDatabase, fake_collection

T = "x.case.received"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_lag_is_the_end_minus_the_commit_and_all_that_is_held_where_nothing_was_committed() -> None:
    p0, p1, p2 = (TopicPartition(T, p) for p in range(3))
    lag = consumer_lag({p0: 90, p1: -1}, {p0: 100, p1: 40, p2: 7}, {p1: 10, p2: 0})
    assert lag == {p0: 10, p1: 30, p2: 7}
    assert consumer_lag({p0: 100}, {p0: 100}, {}) == {p0: 0}


def test_the_gauges_carry_fixed_labels_the_topic_without_a_runs_prefix() -> None:
    registry = CollectorRegistry()
    gauges = OpsGauges(registry, "intake")
    gauges.set_lag("ruam.intake.raw", {TopicPartition("bench1.intake.raw", 2): 17})
    assert sample(
        registry, "ruam_consumer_lag", service="intake", group="ruam.intake.raw",
        topic="intake.raw", partition="2",
    ) == 17  # fmt: skip
    gauges.set_backlog("submissions", Backlog(3, 12.5))
    assert sample(registry, "ruam_outbox_backlog", service="intake", collection="submissions") == 3
    assert (
        sample(registry, "ruam_outbox_oldest_seconds", service="intake", collection="submissions")
        == 12.5
    )
    gauges.set_letters({"intake.raw": 2}, ["intake.raw", "case.assigned"])
    assert sample(registry, "ruam_dead_letters_waiting", service="intake", topic="intake.raw") == 2
    assert (
        sample(registry, "ruam_dead_letters_waiting", service="intake", topic="case.assigned") == 0
    )
    info = [s for m in registry.collect() if m.name == "ruam_build_info" for s in m.samples]
    assert len(info) == 1 and info[0].value == 1 and info[0].labels["service"] == "intake"


async def test_the_backlog_is_what_the_markers_say_oldest_first() -> None:
    fake, collection = fake_collection("submissions")
    store = AggregateStore(collection, FakePublisher(), cas=Cas.NATIVE)
    assert await store.backlog() == Backlog(0, 0.0)
    markers = fake.database["submissions_pending"]
    now = datetime.now(UTC)
    markers.docs["a#1"] = {"_id": "a#1", "doc": "a", "v": 1, "at": now - timedelta(seconds=90)}
    markers.docs["b#2"] = {"_id": "b#2", "doc": "b", "v": 2, "at": now - timedelta(seconds=5)}
    backlog = await store.backlog()
    assert backlog.count == 2 and 89 < backlog.oldest_seconds < 120
    assert store in AggregateStore.live()


async def test_waiting_letters_are_those_never_replayed_by_topic_of_the_service() -> None:
    db = FakeDatabase()
    letters = db["dead_letters"]
    for n, (service, topic, replays) in enumerate(
        [
            ("intake", "p1.intake.raw", []),
            ("intake", "p1.intake.raw", []),
            ("intake", "p1.case.assigned", [datetime.now(UTC)]),
            ("routing", "p1.case.received", []),
        ]
    ):
        letters.docs[str(n)] = {
            "_id": str(n), "service": service, "source_topic": topic, "replays": replays,
        }  # fmt: skip
    store = MongoDeadLetters(cast("AsyncDatabase[Document]", db))
    assert await store.waiting("intake") == {"intake.raw": 2}
    assert await store.waiting("routing") == {"case.received": 1}


async def test_a_failing_check_does_not_stop_the_others_and_is_tried_next_round() -> None:
    runs: list[str] = []

    async def broken() -> None:
        runs.append("broken")
        raise ConnectionError("broker away")

    async def fine() -> None:
        runs.append("fine")

    one_round = each(broken, fine)
    assert await one_round() == 0
    assert await one_round() == 0
    assert runs == ["broken", "fine", "broken", "fine"]


def test_a_certificate_bundle_expires_with_its_soonest_certificate() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime(2026, 12, 1, tzinfo=UTC)

    def cert(days: int) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ca-{days}")])
        built = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(days)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .sign(key, hashes.SHA256())
        )
        return built.public_bytes(serialization.Encoding.PEM)

    assert certificate_expiry(cert(90) + cert(10), now) == [10 * 86400.0, 90 * 86400.0]
