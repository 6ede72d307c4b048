"""How long the sandbox takes to generate its dataset: 100,000 learners against 10,000.

Run: `.venv/bin/python -m bench.sandbox_generate [--learners 100000]`. The ratio of the large run
to ten times the small one shows whether generation stays linear.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date

from connector.sandbox.generator import GeneratorConfig, generate
from connector.sandbox.store import Database
from connector.sandbox.vocabulary import Vocabulary


def timed_generation(learners: int) -> tuple[float, dict[str, int]]:
    """Seconds to generate `learners`, and the record counts."""
    db = Database()
    started = time.perf_counter()
    generate(db, Vocabulary(), GeneratorConfig(learners, seed=1, today=date(2026, 11, 29)))
    elapsed = time.perf_counter() - started
    return elapsed, {table.entity: len(table) for table in db.tables()}


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=100_000)
    args = parser.parse_args()
    baseline_learners = args.learners // 10
    baseline, _ = timed_generation(baseline_learners)
    large, counts = timed_generation(args.learners)
    records = sum(counts.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"baseline: {baseline_learners} learners in {baseline:.1f} s")
    print(
        f"large:    {args.learners} learners, {records} records in {large:.1f} s "
        f"({records / large:,.0f} records/s), peak RSS {peak_mb:,.0f} MB"
    )
    print(f"linearity: large / (10 x baseline) = {large / (10 * baseline):.2f}")
    print("counts:", counts)


if __name__ == "__main__":
    main()
