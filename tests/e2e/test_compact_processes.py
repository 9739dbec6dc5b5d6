"""`spamops prune --compact` swaps the history file while another process writes to it: every
write that process saw acknowledged is in the compacted file (none went to the old one), and
the audit chain both wrote to still verifies."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.services import Services

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("store_worker.py")


def test_a_writer_loses_nothing_across_compactions(trained_home: Path) -> None:
    services = Services(load_settings())
    services.setup_database()
    writer = subprocess.Popen([sys.executable, str(WORKER), "decisions", str(trained_home),
                               "8", "w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        compactions = 0
        deadline = time.monotonic() + 6
        time.sleep(1.0)
        while time.monotonic() < deadline:
            services.compact_history()
            compactions += 1
            time.sleep(0.5)
        out, err = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == 0, err
    acked = set(out.split())
    assert compactions >= 2 and len(acked) > 5
    stored = {row[0] for row in services.sql("SELECT id FROM decisions WHERE id LIKE 'w-%'")
              .rows}
    assert acked <= stored, sorted(acked - stored)[:5]
    assert services.verify_audit().ok
    services.close()
