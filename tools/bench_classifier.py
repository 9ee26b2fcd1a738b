"""`python -m tools.bench_classifier`: the CPU routing's classifier spends on one report, over
the real Traffy Fondue reports (read in place from ../shared/data) and over the pipeline
bench's short report. A measurement, not a test: it asserts nothing.

Each round ranks every report once (after a warm-up of 50), timed by the process's CPU
clock; the best of `--rounds` rounds is reported, since the machine's other work only ever
adds time. Also the slowest 5 % of single reports in the best round (wall clock, one at a
time). Results go to bench-results/classifier-<time>.json; the last line is
`bench classifier: X ms a report (983 Traffy reports, mean N characters), p95 Y ms,
short report Z ms` (on one line).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from services.routing.models import load_default_classifier
from tools.bench import TEXT
from tools.train_classifier import default_csv_path, load_reports

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_classifier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--csv", type=Path, default=None, help="reports (default: Traffy's)")
    args = parser.parse_args(argv)
    texts = [r.text for r in load_reports(args.csv or default_csv_path()) if r.text.strip()]
    clf = load_default_classifier()
    for text in texts[:50]:
        clf.rank(text)
    best_cpu, best_each = float("inf"), [0.0]
    for _ in range(args.rounds):
        each = []
        cpu = time.process_time()
        for text in texts:
            t0 = time.perf_counter()
            clf.rank(text)
            each.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu
        if cpu < best_cpu:
            best_cpu, best_each = cpu, each
    short = time.process_time()
    for _ in range(1000):
        clf.rank(TEXT)
    short_ms = (time.process_time() - short) * 1000 / 1000
    mean_ms = best_cpu * 1000 / len(texts)
    p95_ms = statistics.quantiles(best_each, n=20)[-1] * 1000
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "reports": len(texts),
        "mean_characters": round(sum(map(len, texts)) / len(texts)),
        "rounds": args.rounds,
        "cpu_ms_per_report": round(mean_ms, 3),
        "p95_ms": round(p95_ms, 3),
        "short_report": {"text": TEXT, "cpu_ms": round(short_ms, 3)},
    }
    out_dir = REPO / "bench-results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"classifier-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(
        f"bench classifier: {mean_ms:.2f} ms a report ({len(texts)} Traffy reports, mean "
        f"{result['mean_characters']} characters), p95 {p95_ms:.2f} ms, "
        f"short report {short_ms:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
