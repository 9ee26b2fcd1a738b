"""Buddhist-Era dates, Thai digits, money: how the site writes them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.portal.domain import thai


def test_buddhist_era_dates_in_bangkok_time() -> None:
    # 17:30 UTC on 30 September is already 1 October in Bangkok: the new fiscal year.
    moment = datetime(2026, 9, 30, 17, 30, tzinfo=UTC)
    assert thai.be_date(moment) == "1 ตุลาคม 2569"
    assert thai.be_date(moment, "en") == "1 October 2569 BE"
    assert thai.be_datetime(moment) == "1 ตุลาคม 2569 00:30 น."
    assert thai.be_date(date(2026, 5, 16), thai_digits=True) == "๑๖ พฤษภาคม ๒๕๖๙"
    assert thai.be_date(None) == "–"


def test_months_numbers_and_baht() -> None:
    assert thai.month_label("2026-10") == "ต.ค. 2569"
    assert thai.month_label("2026-10", "en") == "Oct 2569"
    assert thai.number(1234.5, places=1, thai_digits=True) == "๑,๒๓๔.๕"
    assert thai.baht(2_500_000_000) == "25,000,000.00"
    assert thai.baht(1_050) == "10.50"
    assert thai.baht(-5) == "-0.05"
