"""A month of clean traffic through the real engine: false alarms over time (one JSON line).

Issue 13, item 8: 30 simulated days of clean held-out UCI traffic (the persisted test split,
which no model trains on), 100 messages an hour with 40% labelled ten hours later, checked by
the real monitoring job every 2 hours (360 checks of 200 messages) and retrained by the real
weekly job, all on a ``SimulatedClock`` driven by ``SimulatedScheduler`` (as ``spamops demo``
does). Nothing is mocked: predictions, drift, the CUSUM, the rules, training, comparison and
deployment run as in production, on a fresh data home in a temporary directory.

Prints: checks, drift alerts (windows with ``drift_detected``, by component), drift confirmed
by the CUSUM, drift-triggered retrains (target <= 1), accuracy-triggered retrains, retrains
started by the per-class label trigger (``rules.label_trigger``), scheduled retrains,
deployments and the wall time. The scheduled weekly retrain is expected and is counted
separately.

Usage: ``python scripts/benchmarks/clean_month.py [--days 30] [--seed 42]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from engine.clock import SimulatedClock
from engine.config import load_settings
from engine.errors import ConflictError
from engine.scheduling import SimulatedScheduler
from engine.services import Services

CHECK_MINUTES = 120
MESSAGES_PER_HOUR = 100
LABEL_RATE = 0.4
LABEL_DELAY = timedelta(hours=10)
START = datetime(2026, 3, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="simulated days (default 30)")
    parser.add_argument("--seed", type=int, default=42, help="traffic seed (default 42)")
    args = parser.parse_args()
    os.environ.setdefault("SPAMOPS_DATASET_URL", str(
        Path(__file__).resolve().parents[3] / "shared" / "data" / "sms+spam+collection.zip"))
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spamops-clean-month-") as tmp:
        settings = load_settings(home=Path(tmp))
        monitoring = settings.monitoring.model_copy(update={"interval_minutes": CHECK_MINUTES})
        settings = settings.model_copy(update={"monitoring": monitoring})
        clock = SimulatedClock(START)
        services = Services(settings, clock=clock)
        try:
            services.fetch_dataset()
            services.setup_database()
            services.train(trigger="benchmark", actor="benchmark")
            scheduler = SimulatedScheduler(services.scheduled_jobs(start=START), services.store,
                                           clock)
            for hour in range(args.days * 24):
                at = START + timedelta(hours=hour)
                clock.set(max(clock.now(), at + timedelta(minutes=5)))
                services.simulate(messages=MESSAGES_PER_HOUR, drift=0.0, label_rate=LABEL_RATE,
                                  seed=args.seed * 1_000_003 + hour, label_delay=LABEL_DELAY,
                                  source="clean_month")
                with contextlib.suppress(ConflictError):  # a job refused to double a retrain
                    scheduler.advance_to(at + timedelta(hours=1))
            decisions = services.decisions(100_000)
            snapshots = services.drift_history(100_000)
            events = services.retraining_history(100_000)
        finally:
            services.close()
    components: Counter[str] = Counter(c for s in snapshots for c in s.drift_components)
    scheduled = [e for e in events if e.trigger == "schedule"]
    drift_retrains = [e for e in events if "drift" in e.trigger.split("+")]
    accuracy_retrains = [e for e in events if "accuracy" in e.trigger.split("+")]
    label_retrains = [e for e in events if "labels" in e.trigger.split("+")]
    print(json.dumps({
        "benchmark": "clean_month",
        "days": args.days,
        "traffic": f"clean held-out UCI test split, {MESSAGES_PER_HOUR}/hour, "
                   f"{LABEL_RATE:.0%} labelled {LABEL_DELAY.total_seconds() / 3600:g} h later",
        "check_every_minutes": CHECK_MINUTES,
        "checks": len(decisions),
        "checks_with_drift_measured": len(snapshots),
        "drift_alerts": sum(s.drift_detected for s in snapshots),
        "drift_alerts_by_component": dict(components),
        "drift_confirmed_by_cusum": sum(s.drift_confirmed for s in snapshots),
        "max_cusum": round(max((s.cusum or 0.0 for s in snapshots), default=0.0), 3),
        "accuracy_estimates_unreliable": sum(d.accuracy_unreliable for d in decisions),
        "drift_triggered_retrains": len(drift_retrains),
        "accuracy_triggered_retrains": len(accuracy_retrains),
        "label_triggered_retrains": len(label_retrains),
        "scheduled_retrains": len(scheduled),
        "deployments": sum(e.deployment in ("DEPLOY", "APPROVED") for e in events),
        "decisions": dict(Counter(d.decision for d in decisions)),
        "target": {"drift_triggered_retrains": 1},
        "seconds": round(time.perf_counter() - wall, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
