"""Print the readable drift report for a drifted and a clean window (``make test-drift``).

Reference: the training split; windows: 500 held-out test messages, one with 30% generated
drift. Needs only the dataset (no trained model), in a temporary data home unless
SPAMOPS_HOME is set.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from engine.cli.drift_cmd import render_report
from engine.config import load_settings
from engine.errors import SpamopsError
from engine.services import Services
from engine.traffic import mix


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(os.environ.get("SPAMOPS_HOME") or tmp)
        services = Services(load_settings(home=home))
        try:
            split = services.split()
            windows = []
            for name, fraction in (("drifted window (30% new traffic)", 0.3),
                                   ("clean window (held-out messages)", 0.0)):
                texts = [m.text for m in mix(split.test_texts, split.test_labels, n=500,
                                             fraction=fraction, seed=11)]
                windows.append((name, texts))
            reports = services.drift_reports(windows, reference=split.train_texts)
        except SpamopsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        finally:
            services.close()
    print("\n\n".join(render_report(r) for r in reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
