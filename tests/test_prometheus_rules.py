"""The shipped Prometheus alert rules: valid for promtool, firing on synthetic series as their
test file expects, built on metrics /metrics really exports, with runbooks that exist.

promtool comes with Debian's ``prometheus`` package (``.ci/run`` installs it); the promtool
tests skip only when it is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "deploy" / "prometheus" / "spamops-rules.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "spamops-rules.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed "
                                    "(apt-get install prometheus)")


def _rules() -> list[dict[str, object]]:
    loaded = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"]]


@needs_promtool
def test_promtool_check_rules_passes() -> None:
    done = subprocess.run([str(PROMTOOL), "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in done.stdout


@needs_promtool
def test_promtool_unit_tests_fire_where_expected() -> None:
    done = subprocess.run([str(PROMTOOL), "test", "rules", str(RULE_TESTS)],
                          capture_output=True, text=True, timeout=120, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text(encoding="utf-8")))
    assert {"SpamopsDriftDetected", "SpamopsAccuracyBelowFloor",
            "SpamopsMonitoringCheckStale"} <= tested
    assert tested == {rule["alert"] for rule in _rules()}  # every alert has a test


def test_every_rule_has_a_summary_and_a_runbook_section_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    headings = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
                for line in readme.splitlines() if line.startswith("#")}
    for rule in _rules():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"], rule["alert"]
        page, _, anchor = str(annotations["runbook"]).partition("#")
        assert page == "README.md" and anchor in headings, (rule["alert"], anchor)


def test_rules_use_only_metrics_that_metrics_exports() -> None:
    source = "\n".join(p.read_text(encoding="utf-8")
                       for p in (REPO / "server" / "telemetry.py",))
    exported = set(re.findall(r'"(spamops_[a-z_]+)"', source))
    for rule in _rules():
        used = set(re.findall(r"\b(spamops_[a-z_]+)", str(rule["expr"])))
        assert used and used <= exported, (rule["alert"], used - exported)
