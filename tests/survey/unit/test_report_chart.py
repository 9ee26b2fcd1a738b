"""The satisfaction chart (ITA evidence, public): drawn once for what it shows, drawn
again when a figure changes."""

from __future__ import annotations

from typing import Any

from services.survey.report import _drawn, render_chart


def report(responses: int = 3, percent: float | None = 66.67) -> dict[str, Any]:
    months = [
        {
            "month": f"2569-{m:02d}",
            "label_th": f"เดือน {m}",
            "responses": responses if m == 1 else 0,
            "overall": {"percent_satisfied": percent if m == 1 else None},
        }
        for m in range(1, 13)
    ]
    return {"fiscal_year": 2569, "months": months, "generated_at": "2026-12-05T12:00:00+07:00"}


def test_the_same_figures_are_not_drawn_twice() -> None:
    first = render_chart(report(responses=7))
    before = _drawn.cache_info()
    # Read again, as a visitor's refresh asks: the same picture, no second drawing.
    later = report(responses=7) | {"generated_at": "2026-12-05T12:05:00+07:00"}
    again = render_chart(later)
    after = _drawn.cache_info()
    assert again == first and again.startswith(b"\x89PNG")
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


def test_a_new_response_draws_a_new_chart() -> None:
    assert render_chart(report(responses=4)) != render_chart(report(responses=5))
    assert render_chart(report(percent=50.0)) != render_chart(report(percent=75.0))
