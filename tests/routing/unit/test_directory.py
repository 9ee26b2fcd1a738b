"""The organisation directory: validated, complete, reloaded without a restart."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.routing.adapters.directory_files import DEFAULT_ROOT, DirectoryFiles
from services.routing.domain.directory import Directory
from services.routing.domain.errors import UnknownOrganisation
from shared.taxonomy import codes
from tests.routing.fakes import directory_data, shipped_directory


def test_the_shipped_directory_covers_every_category_and_the_chain() -> None:
    d = shipped_directory()
    assert set(d.categories) == set(codes())
    assert d.officer(d.executives.palad) and d.officer(d.executives.mayor)
    assert {x.code for x in d.departments} >= {
        "office",
        "finance",
        "engineering",
        "education",
        "health",
        "welfare",
        "agriculture",
    }
    assert d.department("engineering").name_th == "กองช่าง"  # type: ignore[union-attr]
    assert {y for y in d.holidays} == {2025, 2026, 2027}
    assert d.complaints_desk.officer == "desk"


def test_a_directory_that_misses_a_category_is_refused_naming_it() -> None:
    data = directory_data()
    del data["categories"]["road"]
    with pytest.raises(ValidationError, match="no department for road"):
        Directory.model_validate(data)


def test_an_unknown_officer_reference_is_refused_naming_the_field() -> None:
    data = directory_data()
    data["villages"][0]["area_officers"]["engineering"] = "nobody"
    with pytest.raises(ValidationError, match=r"villages.1.area_officers.engineering"):
        Directory.model_validate(data)


def test_the_law_caps_the_reply_deadline_at_15_days() -> None:
    data = directory_data()
    data["deadlines"]["respond_days"] = 30
    with pytest.raises(ValidationError, match="respond_days"):
        Directory.model_validate(data)


def _write(path: Path, data: dict[str, object], mtime: int) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    os.utime(path, ns=(mtime, mtime))


def test_an_edit_is_picked_up_without_restart_and_a_broken_one_keeps_the_last_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sraphonthong.yaml"
    data = directory_data()
    _write(path, data, 1_000_000_000)
    files = DirectoryFiles(tmp_path, check_every=0)
    assert files.get("sraphonthong").officer("eng-anan").available  # type: ignore[union-attr]

    for o in data["officers"]:
        if o["id"] == "eng-anan":
            o["status"] = "on_leave"
    _write(path, data, 2_000_000_000)
    assert not files.get("sraphonthong").officer("eng-anan").available  # type: ignore[union-attr]

    path.write_text("officers: [this is: not valid", encoding="utf-8")
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    kept = files.get("sraphonthong")
    assert not kept.officer("eng-anan").available  # type: ignore[union-attr]
    assert "refused, keeping the last valid one" in caplog.text


def test_a_second_organisation_is_a_second_file(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_ROOT / "sraphonthong.yaml", tmp_path / "sraphonthong.yaml")
    data = directory_data()
    data.update(org_id="nongbua", name_th="องค์การบริหารส่วนตำบลหนองบัว", name_en="Nong Bua SAO")
    _write(tmp_path / "nongbua.yaml", data, 1_000_000_000)
    files = DirectoryFiles(tmp_path)
    assert files.get("nongbua").name_th == "องค์การบริหารส่วนตำบลหนองบัว"
    assert files.get("sraphonthong").org_id == "sraphonthong"
    with pytest.raises(UnknownOrganisation):
        files.get("nowhere")
    with pytest.raises(UnknownOrganisation):
        files.get("../etc/passwd")
