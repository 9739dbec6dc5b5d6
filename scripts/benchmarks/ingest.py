"""Own-data benchmark: prints exactly one JSON line.

Builds a 20,000-message labelled traffic file from real texts (the UCI corpus, plus the
Mishra & Soni smishing file from ``../shared/data`` when present), drawn with replacement as
real logs repeat messages, spread over a week as CSV with ``timestamp,label,text``. Then, on
a temporary data home, times what a user runs:

- ``data import``: read, decode, map labels, de-duplicate, store the Parquet copy;
- ``train --dataset``: split, fit, log and register;
- ``replay``: the week through the real engine, monitoring every 6 simulated hours (as the
  demo does), half the labels filed 10 hours late. The target is >= 2,000 messages/s apart
  from retrains: ``replay_messages_per_second`` is the messages over the replay loop's wall
  time (first message to last scheduled job: scoring, logging, labels and every monitoring
  check) less the retrains' wall time. Retrain time is the wall (and CPU) time spent inside
  ``Monitor.retrain`` (``engine.stopwatch``), whether the scheduled retrain job or a check's
  ruling started it: training, logging to MLflow, the champion/challenger comparison and the
  deployment decision. Also reported: the rate per CPU second of this process
  (``replay_messages_per_cpu_second``: what the replay costs, which a loaded machine does not
  change much), the rate apart from every scheduled job, the whole replay's time with its
  start-up and day table, and the check time.

Baselines measured in the same run, on the same 20,000 texts and the champion the replay
starts with: scikit-learn's ``predict_proba`` in batches of 5,000 (raw model scoring), the
compiled scorer the engine uses (``training.spam_probability``), ``pandas.read_csv`` of the
same file (the floor under the import's reading) and ``Services.predict`` in batches of 1,000
with no clock, no scheduler and no labels (scoring plus logging). The load average and the
core count are printed at the start and the end: on a shared machine every wall-time figure
is divided among the processes that share its cores.

Usage: ``python scripts/benchmarks/ingest.py [--dataset-url PATH] [--messages N]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.services import Services

MISHRA = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
          / "sms_phishing_mishra_soni_2022.csv")


def build_file(path: Path, dataset_url: str, n: int, seed: int = 7) -> dict[str, int]:
    """Write the traffic file; returns how many real texts it was drawn from."""
    import numpy as np
    import pandas as pd

    from engine.dataset import Dataset
    from engine.files import messages_of, read_table

    with tempfile.TemporaryDirectory() as tmp:
        uci = Dataset(dataset_url, Path(tmp)).corpus().frame[["label", "text"]]
    pools = [uci]
    if MISHRA.exists():
        mishra = messages_of(read_table(MISHRA))
        pools.append(pd.DataFrame({"label": mishra.labels, "text": mishra.texts}))
    pool = pd.concat(pools, ignore_index=True)
    rng = np.random.default_rng(seed)
    rows = pool.iloc[rng.integers(0, len(pool), n)].reset_index(drop=True)
    start = pd.Timestamp("2024-05-06T00:00:00Z")
    offsets = np.sort(rng.uniform(0, 7 * 86400, n))
    rows.insert(0, "timestamp", [(start + pd.Timedelta(seconds=float(s))).isoformat()
                                 for s in offsets])
    rows.to_csv(path, index=False)
    return {"real_texts": len(pool), "sources": len(pools)}


def scoring_baselines(services: Services, texts: list[str]) -> dict[str, int]:
    """Raw model scoring speed on ``texts``, wall and CPU: scikit-learn and the engine's."""
    from engine.training import spam_probability

    _, model = services.champion.get()
    rates: dict[str, int] = {}
    for name, score in (("sklearn_predict_proba", lambda batch: model.predict_proba(batch)),
                        ("compiled_scorer", lambda batch: spam_probability(model, batch))):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), 5000):
            score(texts[i:i + 5000])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rates[f"{name}_messages_per_second_baseline"] = round(len(texts) / wall)
        rates[f"{name}_messages_per_cpu_second_baseline"] = round(len(texts) / cpu)
    return rates


def main(argv: list[str] | None = None) -> int:
    """Build the file, import, train and replay it on a temporary home; print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-url", default=os.environ.get("SPAMOPS_DATASET_URL"))
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args(argv)
    if not args.dataset_url:
        print("set SPAMOPS_DATASET_URL or --dataset-url", file=sys.stderr)
        return 2
    os.environ["SPAMOPS_MONITORING__INTERVAL_MINUTES"] = "360"
    import pandas as pd

    from engine.config import load_settings
    from engine.files import messages_of, read_table
    from engine.registry import quiet_mlflow_environment
    from engine.replay import run_replay
    from engine.services import Services

    quiet_mlflow_environment()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "traffic.csv"
        drawn = build_file(source, args.dataset_url, args.messages)
        started = time.perf_counter()
        pd.read_csv(source, dtype=str, keep_default_na=False)
        read_csv_seconds = time.perf_counter() - started

        settings = load_settings(home=Path(tmp) / "home", dataset_url=args.dataset_url)
        services = Services(settings)
        started = time.perf_counter()
        messages = messages_of(read_table(source))
        read_seconds = time.perf_counter() - started
        imported = services.import_dataset(messages, "traffic").record
        import_seconds = time.perf_counter() - started

        started = time.perf_counter()
        outcome = services.train(trigger="benchmark", datasets=["traffic"])
        train_seconds = time.perf_counter() - started
        replay_messages = messages_of(read_table(source))
        texts = replay_messages.texts
        baselines = scoring_baselines(services, texts)
        services.close()

        summary = run_replay(settings, replay_messages, label_rate=0.5)

        services = Services(settings)
        services.predict(texts[:100], source="benchmark")  # load the champion first
        started = time.perf_counter()
        for i in range(0, len(texts), 1000):
            services.predict(texts[i:i + 1000], source="benchmark")
        services.store.flush()
        predict_seconds = time.perf_counter() - started
        services.close()
    print(json.dumps({
        "benchmark": "ingest", "messages": args.messages, **drawn,
        "distinct_messages": imported.messages,
        "duplicates_removed": imported.duplicates_removed,
        "read_csv_seconds_baseline": round(read_csv_seconds, 3),
        "read_seconds": round(read_seconds, 3),
        "import_seconds": round(import_seconds, 3),
        "train_seconds": round(train_seconds, 2),
        "n_train": outcome.result.n_train, "n_test": outcome.result.n_test,
        "accuracy": round(outcome.result.metrics.accuracy, 4),
        "replay_messages_per_second": round(summary.messages_per_second),
        "replay_messages_per_cpu_second": round(summary.messages_per_cpu_second),
        "replay_messages_per_second_apart_from_all_jobs":
            round(summary.scoring_messages_per_second),
        "replay_messages_per_second_overall": round(summary.replayed / summary.seconds),
        "replay_seconds": round(summary.seconds, 2),
        "replay_loop_seconds": round(summary.loop_seconds, 2),
        "replay_loop_cpu_seconds": round(summary.loop_cpu_seconds, 2),
        "replay_retrain_seconds": round(summary.retrain_seconds, 2),
        "replay_retrain_cpu_seconds": round(summary.retrain_cpu_seconds, 2),
        "replay_check_seconds": round(summary.job_seconds - summary.retrain_seconds, 2),
        "replay_scoring_seconds": round(summary.scoring_seconds, 2),
        "replay_scoring_cpu_seconds": round(summary.scoring_cpu_seconds, 2),
        "retrain_time": "wall/CPU inside Monitor.retrain (scheduled or check-started)",
        **baselines,
        "predict_batches_messages_per_second_baseline": round(len(texts) / predict_seconds),
        "replay_checks": sum(d.checks for d in summary.days),
        "replay_retrains": summary.retrains, "replay_labels": summary.labelled,
        "monitoring_interval_minutes": 360,
        "cpus": os.cpu_count(), "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "targets": {"replay_messages_per_second": 2000},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
