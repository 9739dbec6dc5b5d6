"""Closed-loop benchmark: does one monitoring cycle end with a model that catches new spam?

Prints exactly one JSON line. Steps, all through the real product:

1. a fresh data home, trained on the base corpus (UCI by default, ``SPAMOPS_DATASET_URL``
   or ``../shared/data/sms+spam+collection.zip``);
2. the novel spam (``--novel FILE`` or ``--generator``) is de-duplicated, stripped of texts
   the base corpus already has, shuffled (``--seed``) and cut in two halves: one is streamed,
   the other is never seen by the system and measures recall;
3. a real ``spamops serve`` (subprocess, 127.0.0.1, a free port) receives the held-out base
   messages (the UCI test split; or ``--base FILE``) mixed with the streamed half through
   ``POST /predict/batch``; a share ``--label-rate`` of them gets its true label through
   ``POST /feedback``; then one ``POST /monitor/check`` runs the cycle (drift or accuracy ->
   retrain -> gate);
4. before and after, the champion is scored in this process on the unseen half (recall) and
   on the held-out UCI ham of the test split (ham false-positive rate).

Keys: ``recall_before``, ``recall_after``, ``ham_fpr_before``, ``ham_fpr_after``,
``decision`` (the gate's DEPLOY/KEEP/..., or the check's decision when no retrain ran),
``reason``, and more. Target (issue 13): after one cycle, recall on the unseen half >= 0.93
with ham false-positive rate <= 1%.

``--novel FILE``: one message per line, or a CSV/TSV whose header names a text column (``text``
in any case) and a label column (``label``): then the rows whose label is in
``--novel-labels`` (default ``spam,smishing``, case-insensitive) are the novel spam. Lines
that are not valid UTF-8 are decoded as latin-1, line by line (real files have such bytes).

Usage: ``python scripts/benchmarks/closed_loop.py (--novel FILE | --generator) [--base FILE]
[--label-rate 0.4] [--seed 42] [--novel-labels spam,smishing]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SHARED_ZIP = REPO.parent / "shared" / "data" / "sms+spam+collection.zip"
API_KEY = secrets.token_urlsafe(32)
"""A fresh key per run (spamops refuses placeholder-looking keys)."""
BATCH = 500
TARGET_RECALL = 0.93
TARGET_HAM_FPR = 0.01


def decode_lines(path: Path) -> str:
    """The file's text; each line that is not valid UTF-8 is decoded as latin-1."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        sys.exit(f"{path}: cannot read ({exc.strerror or exc})")
    lines = []
    for line in raw.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("latin-1"))
    return "\n".join(lines).lstrip("\ufeff")


def _column(fieldnames: list[str], name: str) -> str | None:
    return next((f for f in fieldnames if f.strip().lower() == name), None)


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """``(label, text)`` rows of a CSV/TSV with label and text columns, or of UCI lines.

    Plain lines (no header, not UCI) come back with the label ``""``.
    """
    text = decode_lines(path)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        sys.exit(f"{path}: no messages")
    header = lines[0]
    for delimiter in (",", "\t", ";"):
        names = [c.strip().strip('"').lower() for c in header.split(delimiter)]
        if len(names) > 1 and "text" in names:
            reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
            fields = list(reader.fieldnames or [])
            text_key = _column(fields, "text")
            label_key = _column(fields, "label")
            assert text_key is not None
            rows = []
            for number, row in enumerate(reader, start=2):
                value = (row.get(text_key) or "").strip()
                if value:
                    label = (row.get(label_key) or "").strip().lower() if label_key else ""
                    rows.append((label, value))
                elif row and any(row.values()):
                    print(f"{path}:{number}: no text, skipped", file=sys.stderr)
            return rows
    if all(line.split("\t", 1)[0].strip().lower() in ("ham", "spam") and "\t" in line
           for line in lines):
        return [(line.split("\t", 1)[0].strip().lower(), line.split("\t", 1)[1].strip())
                for line in lines]
    return [("", line.strip()) for line in lines]


def novel_messages(args: argparse.Namespace) -> tuple[list[str], str]:
    """The novel spam texts and where they came from."""
    if args.generator:
        from engine.traffic import SPAM, generate

        messages = generate(args.generator_messages, seed=args.seed)
        return [m.text for m in messages if m.label == SPAM], "generator"
    wanted = {label.strip().lower() for label in args.novel_labels.split(",") if label.strip()}
    rows = read_labelled(args.novel)
    texts = [text for label, text in rows if label == "" or label in wanted]
    if not texts:
        sys.exit(f"{args.novel}: no rows labelled {sorted(wanted)}")
    return texts, str(args.novel)


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"spamops serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not become healthy")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def model_rates(home: Path, dataset_url: str, unseen: list[str], ham: list[str], *,
                newest: bool = False) -> tuple[int, float, float]:
    """``(version, recall on unseen, false-positive rate on ham)`` of the champion (or of the
    newest version: the challenger, deployed or not), scored in this process."""
    from engine.config import load_settings
    from engine.services import Services
    from engine.training import spam_probability

    services = Services(load_settings(home=home, dataset_url=dataset_url))
    try:
        if newest:
            version = max(v.version for v in services.registry.versions())
            model = services.registry.load(version)
        else:
            version, model = services.champion.get()
        recall = float((spam_probability(model, unseen) >= 0.5).mean())
        fpr = float((spam_probability(model, ham) >= 0.5).mean())
    finally:
        services.close()
    return version, recall, fpr


def post(client: httpx.Client, path: str, body: Any, *, timeout: float = 60,
         retry_404: bool = False) -> Any:
    """POST with the key; a 404 on feedback (prediction not yet in the store) is retried."""
    for attempt in range(60):
        response = client.post(path, json=body, timeout=timeout)
        if response.status_code == 404 and retry_404 and attempt < 59:
            time.sleep(0.25)
            continue
        if response.status_code >= 400:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:200]}")
        return response.json()
    raise AssertionError("unreachable")


def stream(url: str, messages: list[tuple[str, str]], label_rate: float,
           seed: int) -> int:
    """Score every message through the API and file labels for a share; returns labels."""
    rng = random.Random(seed + 1)
    labels = 0
    with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}) as client:
        for start in range(0, len(messages), BATCH):
            chunk = messages[start:start + BATCH]
            scored = post(client, "/predict/batch", {"texts": [t for t, _ in chunk]})["data"]
            for (_, label), prediction in zip(chunk, scored, strict=True):
                if rng.random() < label_rate:
                    post(client, "/feedback", {"prediction_id": prediction["prediction_id"],
                                               "label": label}, retry_404=True)
                    labels += 1
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--novel", type=Path, help="File of novel spam messages.")
    source.add_argument("--generator", action="store_true",
                        help="Novel spam from engine/traffic.py's scam families.")
    parser.add_argument("--generator-messages", type=int, default=800,
                        help="How many generated messages (spam families only are kept).")
    parser.add_argument("--novel-labels", default="spam,smishing",
                        help="Labels of the novel spam rows in a labelled --novel file.")
    parser.add_argument("--base", type=Path, default=None,
                        help="Labelled base traffic (CSV/TSV with label,text or UCI lines); "
                             "default: the UCI test split.")
    parser.add_argument("--label-rate", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--retrain-if-no-action", action="store_true",
                        help="When the check does not retrain, also POST /retrain (shows what "
                             "the gate would do; reported as forced_retrain).")
    args = parser.parse_args()
    if not 0 <= args.label_rate <= 1:
        sys.exit("--label-rate must be in [0, 1]")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    dataset_url = os.environ.get("SPAMOPS_DATASET_URL") or str(SHARED_ZIP)
    started = time.perf_counter()
    novel, novel_source = novel_messages(args)

    with tempfile.TemporaryDirectory(prefix="spamops-closed-loop-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        from engine.config import load_settings
        from engine.services import Services

        services = Services(load_settings(home=home, dataset_url=dataset_url))
        try:
            services.train(trigger="benchmark")
            split = services.split()
        finally:
            services.close()
        # "Novel" means not in the base corpus, compared without case, spaces or punctuation.
        corpus = {_key(t) for t in (*split.train_texts, *split.test_texts)}
        distinct = [t for t in dict.fromkeys(t.strip() for t in novel)
                    if t and _key(t) not in corpus]
        if len(distinct) < 20:
            sys.exit(f"{novel_source}: only {len(distinct)} novel messages not in the base "
                     "corpus; at least 20 are needed")
        random.Random(args.seed).shuffle(distinct)
        half = len(distinct) // 2
        streamed, unseen = distinct[:half], distinct[half:]
        test_ham = [t for t, label in zip(split.test_texts, split.test_labels, strict=True)
                    if label == "ham"]
        if args.base is not None:
            base = [(t, label) for label, t in read_labelled(args.base)
                    if label in ("ham", "spam")]
            if not base:
                sys.exit(f"{args.base}: no rows labelled ham or spam")
        else:
            base = list(zip(split.test_texts, split.test_labels, strict=True))
        traffic = base + [(t, "spam") for t in streamed]
        random.Random(args.seed + 2).shuffle(traffic)

        before_version, recall_before, fpr_before = model_rates(home, dataset_url, unseen,
                                                                test_ham)
        port = free_port()
        env = {**os.environ, "SPAMOPS_HOME": str(home), "SPAMOPS_API_KEY": API_KEY,
               "SPAMOPS_DATASET_URL": dataset_url}
        spamops_bin = Path(sys.executable).parent / "spamops"
        log = (tmp / "serve.log").open("wb")
        process = subprocess.Popen([str(spamops_bin), "serve", "--port", str(port)], env=env,
                                   cwd=str(tmp), stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            try:
                wait_healthy(url, process)
            except RuntimeError:
                log.flush()
                tail = (tmp / "serve.log").read_text(errors="replace").strip().splitlines()
                sys.exit(f"spamops serve did not start: {tail[-1] if tail else 'no output'}")
            labels = stream(url, traffic, args.label_rate, args.seed)
            with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}) as client:
                check = post(client, "/monitor/check", {"retrain": True}, timeout=900)
                forced = None
                if check.get("deployment") is None and args.retrain_if_no_action:
                    forced = post(client, "/retrain", None, timeout=900)
        finally:
            stop(process)
            log.close()
        after_version, recall_after, fpr_after = model_rates(home, dataset_url, unseen,
                                                             test_ham)
        newest, newest_recall, newest_fpr = model_rates(home, dataset_url, unseen, test_ham,
                                                        newest=True)
    deployment = check.get("deployment") or forced or {}
    drift = check.get("drift") or {}
    decision = deployment.get("decision") or check["decision"]
    reasons = deployment.get("reasons") or check["reasons"]
    print(json.dumps({
        "benchmark": "closed_loop",
        "novel_source": novel_source,
        "novel_messages": len(distinct), "streamed_novel": len(streamed),
        "unseen_novel": len(unseen), "base_messages": len(base),
        "label_rate": args.label_rate, "labels_filed": labels,
        "test_ham": len(test_ham),
        "recall_before": round(recall_before, 4), "recall_after": round(recall_after, 4),
        "ham_fpr_before": round(fpr_before, 4), "ham_fpr_after": round(fpr_after, 4),
        "check_decision": check["decision"], "check_reasons": check["reasons"],
        "drift_score": drift.get("drift_score"),
        "decision": decision, "reason": " ".join(reasons),
        "forced_retrain": forced is not None,
        "champion_before": before_version, "champion_after": after_version,
        "challenger": newest if newest != before_version else None,
        "challenger_recall": round(newest_recall, 4) if newest != before_version else None,
        "challenger_ham_fpr": round(newest_fpr, 4) if newest != before_version else None,
        "seconds": round(time.perf_counter() - started, 1),
        "targets": {"recall_after": TARGET_RECALL, "ham_fpr_after": TARGET_HAM_FPR},
        "meets_target": recall_after >= TARGET_RECALL and fpr_after <= TARGET_HAM_FPR,
    }))


if __name__ == "__main__":
    main()
