"""Simulate drifted SMS traffic: held-out clean messages mixed with generated drift.

Writes window files (one message per line, plus ``labels.tsv`` with the true label and family
of every message), or sends the messages as live traffic to the API (``--to-api URL``, POST
``{URL}/predict``) or logs them through ``Services.predict(source="simulate")`` (``--to-store``).
Deterministic for a seed. Examples::

    python scripts/inject_drift.py --n 1000 --fraction 0.25 --seed 7 --out windows/
    python scripts/inject_drift.py --windows 10 --window-size 500 --fraction 0.1 --out w/
    python scripts/inject_drift.py --n 500 --fraction 0.3 --to-api http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.config import load_settings
from engine.errors import SpamopsError
from engine.services import Services
from engine.traffic import LabelledMessage, mix


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="messages per window unless "
                        "--window-size is given (default 1000)")
    parser.add_argument("--fraction", type=float, default=0.25,
                        help="share of generated (drifted) messages in each window")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--windows", type=int, default=1, help="number of windows (default 1)")
    parser.add_argument("--window-size", type=int, default=None,
                        help="messages per window (default --n)")
    parser.add_argument("--out", type=Path, default=None, help="directory for window files")
    parser.add_argument("--to-api", metavar="URL", default=None,
                        help="POST each window to URL/predict as live traffic")
    parser.add_argument("--to-store", action="store_true",
                        help="log the messages through Services.predict(source='simulate')")
    args = parser.parse_args(argv)
    if not (args.out or args.to_api or args.to_store):
        parser.error("give at least one of --out, --to-api, --to-store")
    if args.n < 1 or args.windows < 1 or (args.window_size is not None and args.window_size < 1):
        parser.error("--n, --windows and --window-size must be positive")
    if not 0 <= args.fraction <= 1:
        parser.error("--fraction must be in [0, 1]")
    return args


def build_windows(services: Services, *, n: int, fraction: float, seed: int,
                  windows: int) -> list[list[LabelledMessage]]:
    """``windows`` windows of ``n`` messages from the held-out test split plus drift."""
    split = services.split()
    return [mix(split.test_texts, split.test_labels, n=n, fraction=fraction, seed=seed + i)
            for i in range(windows)]


def write_windows(out: Path, windows: list[list[LabelledMessage]]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with (out / "labels.tsv").open("w", encoding="utf-8") as labels:
        labels.write("window\tlabel\tfamily\ttext\n")
        for i, window in enumerate(windows):
            path = out / f"window_{i:03d}.txt"
            lines = [" ".join(m.text.split()) for m in window]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            for m, line in zip(window, lines, strict=True):
                labels.write(f"{path.name}\t{m.label}\t{m.family}\t{line}\n")
            paths.append(path)
    return paths


def send_to_api(url: str, windows: list[list[LabelledMessage]]) -> int:
    import httpx

    endpoint = url.rstrip("/") + "/predict"
    sent = 0
    try:
        with httpx.Client(timeout=10.0) as client:
            for window in windows:
                for m in window:
                    response = client.post(endpoint, json={"text": m.text})
                    response.raise_for_status()
                    sent += 1
    except httpx.ConnectError:
        raise SystemExit(f"error: the API at {url} is not reachable (is `spamops serve` "
                         "running?)") from None
    except httpx.HTTPStatusError as exc:
        raise SystemExit(f"error: {endpoint} answered {exc.response.status_code}: "
                         f"{exc.response.text[:200]}") from None
    except httpx.HTTPError as exc:
        raise SystemExit(f"error: sending to {endpoint} failed: {exc}") from None
    return sent


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    services = Services(load_settings())
    try:
        windows = build_windows(services, n=args.window_size or args.n, fraction=args.fraction,
                                seed=args.seed, windows=args.windows)
        if args.out:
            for path in write_windows(args.out, windows):
                print(path)
        if args.to_store:
            for window in windows:
                services.predict([m.text for m in window], source="simulate")
            print(f"logged {sum(map(len, windows))} messages (source=simulate)", file=sys.stderr)
        if args.to_api:
            sent = send_to_api(args.to_api, windows)
            print(f"sent {sent} messages to {args.to_api}/predict", file=sys.stderr)
    except SpamopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
