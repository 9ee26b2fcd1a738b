"""The console's kept sessions and files on FerretDB: what is sealed comes back, what has
expired does not, the housekeeping deletes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.console.kept_sessions import MongoSessions
from services.console.photos import PDF, MongoPhotos
from services.console.settings import ConsoleSettings
from shared.mongo import create_client

pytestmark = pytest.mark.integration


async def test_sessions_and_scans_are_kept_and_expire(real_settings: Any) -> None:
    settings = real_settings(ConsoleSettings)
    client = create_client(settings.mongodb_url, app_name="test")
    try:
        db = client[settings.mongodb_database]
        sessions = MongoSessions(db)
        now = datetime.now(UTC)
        await sessions.save("live", b"sealed-1", now + timedelta(hours=1))
        await sessions.save("live", b"sealed-2", now + timedelta(hours=1))  # replaced
        await sessions.save("gone", b"sealed-3", now - timedelta(seconds=1))
        assert await sessions.load("live") == b"sealed-2"
        assert await sessions.load("gone") is None and await sessions.load("none") is None
        assert await sessions.purge(now) == 1
        await sessions.delete("live")
        assert await sessions.load("live") is None

        files = MongoPhotos(db)
        pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
        ref = await files.keep_scan(pdf)
        assert ref.startswith("console-scan:")
        kept = await files.get(ref.removeprefix("console-scan:"))
        assert kept is not None and kept.case_id is None and kept.media_type == PDF
        await files.link(ref, "SPT-2569-000009")
        kept = await files.get(ref.removeprefix("console-scan:"))
        assert kept is not None and (kept.data, kept.case_id) == (pdf, "SPT-2569-000009")
    finally:
        await client.close()
