"""The vault on fakes: sealed at rest under RUAM_VAULT_KEY, keys rotate, and entries expire a
retention after their case was last closed (never while it is open)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from services.intake.domain.model import Contact, Submission
from services.intake.settings import DEV_VAULT_KEY
from services.intake.vault import OPEN_CASE_GRACE, PersonalVault, Sealer, VaultKeyError
from shared.clock import FixedClock
from shared.events.cases import CaseClosed, CaseClosedPayload, Channel
from tests.intake.fakes import FakeVault
from tests.intake.unit.helpers import NOW, RETENTION, World, line_body, line_event, signed
from tests.intake.unit.test_open311 import assigned_to_public_works

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def vault(*keys: str, clock: FixedClock | None = None) -> tuple[PersonalVault, FakeVault]:
    store = FakeVault()
    return (
        PersonalVault(store, Sealer(keys), clock or FixedClock(NOW), retention=RETENTION),
        store,
    )


async def test_what_is_stored_is_sealed_and_opens_only_with_the_key() -> None:
    v, store = vault(OLD)
    await v.keep("ct_1", "contact", {"name": "นางสมศรี มีสุข", "phone": "+66812345678"}, owner="k")
    entry = store.entries["ct_1"]
    assert "สมศรี" not in entry.sealed and "812345678" not in entry.sealed
    assert await v.read("ct_1") == {"name": "นางสมศรี มีสุข", "phone": "+66812345678"}
    with pytest.raises(VaultKeyError):
        Sealer([NEW]).open("ct_1", entry.sealed)
    assert await v.read("ct_unknown") is None


async def test_an_entry_copied_under_another_reference_does_not_open() -> None:
    v, store = vault(OLD)
    await v.keep("ct_1", "contact", {"name": "ก"}, owner="k1")
    await v.keep("ct_2", "contact", {"name": "ข"}, owner="k2")
    store.entries["ct_2"] = store.entries["ct_1"]
    with pytest.raises(VaultKeyError, match="another reference"):
        await v.read("ct_2")


async def test_keys_rotate_new_first_and_the_old_still_opens() -> None:
    before, store = vault(OLD)
    await before.keep("tx_1", "text", "ข้อความเดิม", owner="k")
    after = PersonalVault(store, Sealer([NEW, OLD]), FixedClock(NOW), retention=RETENTION)
    await after.keep("tx_2", "text", "ข้อความใหม่", owner="k2")
    assert await after.read("tx_1") == "ข้อความเดิม"
    assert Sealer([NEW]).open("tx_2", store.entries["tx_2"].sealed) == "ข้อความใหม่"


def test_the_published_dev_key_is_a_key() -> None:
    Sealer([DEV_VAULT_KEY])


async def test_a_reference_kept_again_keeps_its_value_and_the_later_retention() -> None:
    clock = FixedClock(NOW)
    v, store = vault(OLD, clock=clock)
    await v.keep("ct_line", "contact", {"line_user_id": "U1"}, owner="line:a")
    clock.set(NOW + timedelta(days=100))
    await v.keep("ct_line", "contact", {"line_user_id": "U1"}, owner="line:b")
    entry = store.entries["ct_line"]
    assert entry.purge_at == NOW + timedelta(days=100) + RETENTION and entry.owner == "line:b"
    await v.retain(["ct_line"], since=NOW, owner="line:a")  # earlier: changes nothing
    assert store.entries["ct_line"].owner == "line:b"


async def test_purge_deletes_what_ran_out_and_keeps_what_an_open_case_still_needs() -> None:
    clock = FixedClock(NOW)
    v, store = vault(OLD, clock=clock)
    open_cases = {"k-open"}

    async def still_needed(owner: str) -> bool:
        return owner in open_cases

    v.still_needed = still_needed
    await v.keep("tx_closed", "text", "ก", owner="k-closed")
    await v.keep("tx_open", "text", "ข", owner="k-open")
    clock.set(NOW + RETENTION - timedelta(seconds=1))
    assert await v.purge() == 0
    clock.set(NOW + RETENTION)
    assert await v.purge() == 1
    assert set(store.entries) == {"tx_open"}
    assert store.entries["tx_open"].purge_at == NOW + RETENTION + OPEN_CASE_GRACE
    open_cases.clear()
    clock.set(NOW + RETENTION + OPEN_CASE_GRACE)
    assert await v.purge() == 1 and store.entries == {}


async def test_a_case_keeps_its_personal_data_a_retention_after_it_closes() -> None:
    """Through the handlers: the words and the contact live as long as the case is open,
    then a full retention from its closing."""
    world = World()
    body = line_body(line_event("E1", text="ไฟดับ หมู่ 3 โทร 0812345678"))
    (outcome,) = await world.handlers.line_webhook(body, signed(body))
    case_id = outcome.case_id
    assert case_id is not None
    refs = set(world.vault.entries)
    assert {r[:3] for r in refs} == {"ct_", "tx_"}
    await world.handlers.case_event(assigned_to_public_works(case_id))

    # Two years on, the case is still open: nothing goes.
    world.clock.set(NOW + RETENTION + timedelta(days=1))
    assert await world.handlers.vault.purge() == 0 and set(world.vault.entries) == refs

    closed_at = NOW + RETENTION + timedelta(days=2)
    closed = CaseClosed(
        org_id="sraphonthong",
        occurred_at=closed_at,
        payload=CaseClosedPayload(case_id=case_id, closed_at=closed_at, seq=5),
    )
    assert await world.handlers.case_event(closed) is True
    assert {e.purge_at for e in world.vault.entries.values()} == {closed_at + RETENTION}
    world.clock.set(closed_at + RETENTION - timedelta(seconds=1))
    assert await world.handlers.vault.purge() == 0
    world.clock.set(closed_at + RETENTION)
    assert await world.handlers.vault.purge() == 2 and world.vault.entries == {}


async def test_a_case_keeps_its_words_and_contact_in_one_write() -> None:
    world = World()
    sub = Submission(
        channel=Channel.WEB,
        text="ไฟดับ หมู่ 3",
        contact=Contact(name="นางสมศรี มีสุข", phone="0812345678"),
        channel_message_id="w-1",
    )
    await world.handlers.submit(sub)
    await world.handlers.submit(sub)  # again: known, nothing written
    assert world.vault.writes == 1
    assert sorted(e.kind for e in world.vault.entries.values()) == ["contact", "text"]
