"""The vault's Mongo adapter on the real FerretDB: sealed documents, one write per case even
when an entry exists, retention only ever moved later, and a purge that spares what was
extended meanwhile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.intake.adapters.mongo_submissions import MongoVault
from services.intake.settings import DEV_VAULT_KEY, IntakeSettings
from services.intake.vault import PersonalVault, Sealer
from shared.clock import FixedClock
from shared.mongo import create_client
from tests.intake.unit.helpers import NOW, RETENTION

pytestmark = pytest.mark.integration


async def test_the_vault_on_ferretdb(real_settings: Any) -> None:
    settings = real_settings(IntakeSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    try:
        db = client[settings.mongodb_database]
        store = MongoVault(db)
        await store.ensure_indexes()
        clock = FixedClock(NOW)
        vault = PersonalVault(store, Sealer([DEV_VAULT_KEY]), clock, retention=RETENTION)
        await vault.keep_all(
            [("tx_1", "text", "โทร 0812345678"), ("ct_1", "contact", {"name": "นางสมศรี"})],
            owner="web:1",
        )
        raw = await db["vault"].find_one({"_id": "ct_1"})
        assert raw is not None and "สมศรี" not in str(raw) and raw["kind"] == "contact"

        # The same LINE user again, with a new case: the contact stays, its retention moves.
        clock.set(NOW + timedelta(days=10))
        await vault.keep_all(
            [("tx_2", "text", "ไฟดับ"), ("ct_1", "contact", {"name": "อื่น"})], owner="web:2"
        )
        assert await vault.read("ct_1") == {"name": "นางสมศรี"}
        assert await vault.read("tx_2") == "ไฟดับ"
        entry = await store.get("ct_1")
        assert entry is not None and entry.owner == "web:2"
        assert entry.purge_at == NOW + timedelta(days=10) + RETENTION
        await store.extend(["ct_1"], NOW, "web:1")  # earlier: nothing moves
        assert (await store.get("ct_1")).purge_at == entry.purge_at  # type: ignore[union-attr]

        clock.set(NOW + RETENTION)
        assert [e.ref for e in await store.expired(clock.now(), 10)] == ["tx_1"]
        assert await vault.purge() == 1
        assert await vault.read("tx_1") is None and await vault.read("ct_1") is not None
        # Listed as expired, then extended before the delete: it stays.
        late = NOW + timedelta(days=10) + RETENTION
        listed = await store.expired(late, 10)
        await store.extend(["ct_1"], late + timedelta(days=1), "web:3")
        assert await store.delete([e.ref for e in listed], late) == 1  # tx_2 only
        assert await vault.read("ct_1") is not None
    finally:
        await client.close()
