"""Champion changes as recorded intents (issue 14, item 4): a crash or a failed write between
the two MLflow alias writes, or between the alias move and the approval's save, is finished or
undone on the next start and audited either way; approvals and rollbacks check the champion
they were decided on. Crashes are real: a ``spamops`` process killed by SIGKILL at a named
fail point (``engine/failpoints.py``), then a new process starting on the same data home.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.errors import ConflictError, SpamopsError
from engine.failpoints import ENV as FAILPOINTS
from engine.records import AuditRecord
from engine.services import Services
from tests.server import conftest as server_fixtures

SPAMOPS = Path(sys.executable).parent / "spamops"

# The API tests' populated home (champion v1, a pending approval for v2 trained on drifted
# feedback), used here too: fixtures are found by name in the module. Its session template
# lives in tests/conftest.py, so it is built once for all of them.
populated_home = server_fixtures.populated_home


def spamops(home: Path, *args: str, failpoints: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPAMOPS_HOME": str(home)}
    if failpoints:
        env[FAILPOINTS] = failpoints
    return subprocess.run([str(SPAMOPS), *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def replay(records: list[AuditRecord]) -> dict[str, int]:
    """The champion/previous aliases the audit trail says hold now: the ``aliases`` of the
    newest record that carries them (every champion change writes one)."""
    state: dict[str, int] = {}
    for record in records:
        if isinstance(record.details.get("aliases"), dict):
            state = {k: int(v) for k, v in record.details["aliases"].items()
                     if k in ("champion", "previous")}
    return state


def aliases(services: Services) -> dict[str, int]:
    return {k: v for k, v in services.registry.aliases().items()
            if k in ("champion", "previous")}


def test_a_crash_between_the_two_alias_writes_is_undone_on_the_next_start(
        two_versions_home: Path) -> None:
    crashed = spamops(two_versions_home, "promote", "2",
                      failpoints="alias.between_writes=kill")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    half = Services(load_settings())
    assert half.registry.aliases() == {"champion": 2}  # champion moved, previous not yet

    services = Services(load_settings())
    _ = services.store  # a writer's start settles the pending move
    assert aliases(services) == {"champion": 1}
    undone = services.audit_records()[-1]
    assert undone.action == "champion.move_undone" and undone.details["aliases"] == {
        "champion": 1}
    newest = services.store.alias_moves()[0]
    assert (newest.kind, newest.status) == ("promote", "undone")
    assert not services.store.pending_alias_moves()
    # The rollback that would have skipped the last good champion now has nothing to undo.
    with pytest.raises(SpamopsError, match="no previous version"):
        services.rollback(actor="test")
    services.promote(2, actor="test")
    services.rollback(actor="test")
    assert aliases(services) == {"champion": 1, "previous": 2}
    assert replay(services.audit_records()) == aliases(services)
    assert services.verify_audit().ok
    services.close()


def test_a_failed_second_alias_write_is_put_back_at_once_and_audited(
        two_versions_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = Services(load_settings())
    monkeypatch.setenv(FAILPOINTS, "alias.between_writes=raise")
    with pytest.raises(SpamopsError, match="undone"):
        services.promote(2, actor="test")
    assert aliases(services) == {"champion": 1}
    assert services.audit_records()[-1].action == "champion.move_undone"
    assert services.champion.get()[0] == 1
    services.promote(2, actor="test")  # the fault fired once, like a busy registry
    assert aliases(services) == {"champion": 2, "previous": 1}
    assert services.champion.get()[0] == 2
    assert replay(services.audit_records()) == aliases(services)
    services.close()


def test_a_crash_between_alias_move_and_approval_save_is_finished_on_the_next_start(
        populated_home: Path) -> None:
    services = Services(load_settings())
    (pending,) = services.approvals("pending")
    crashed = spamops(populated_home, "approve", pending.id,
                      failpoints="alias.before_completion=kill")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    restarted = Services(load_settings())
    _ = restarted.store
    assert aliases(restarted) == {"champion": pending.challenger_version,
                                  "previous": pending.champion_version}
    approval = restarted.store.approval(pending.id)
    assert approval.status == "approved"
    assert restarted.store.retraining(pending.retraining_id).deployment == "APPROVED"
    recovered = restarted.audit_records()[-1]
    assert recovered.action == "champion.move_recovered"
    assert recovered.details["approval_id"] == pending.id
    # A retry and a late reject are refused: the approval is decided, nothing records a
    # "version 1 stays champion" while version 2 serves.
    with pytest.raises(ConflictError, match="already approved"):
        restarted.approve(pending.id, actor="test")
    with pytest.raises(ConflictError, match="already approved"):
        restarted.reject(pending.id, actor="test")
    assert replay(restarted.audit_records()) == aliases(restarted)
    services.close()
    restarted.close()


def test_an_approval_for_a_champion_that_was_replaced_does_not_promote(
        populated_home: Path) -> None:
    services = Services(load_settings())
    (pending,) = services.approvals("pending")
    services.promote(pending.challenger_version, actor="test")  # someone else moved on
    services.rollback(actor="test")
    newer = services.train(trigger="test").result.version
    services.promote(newer, actor="test")
    with pytest.raises(ConflictError, match=f"v{newer} is champion now"):
        services.approve(pending.id, actor="test")
    assert services.registry.champion_version() == newer
    assert services.store.approval(pending.id).status == "pending"
    services.close()
    # The operator's command names the champion that serves, not the one compared with
    # ("rejected: version 1 stays champion" while a newer one served).
    done = spamops(populated_home, "reject", pending.id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rejected: version {newer} stays champion"
    services = Services(load_settings())
    rejected = services.store.approval(pending.id)
    assert rejected.status == "rejected"
    assert rejected.reason is not None and f"version {newer} stays champion" in rejected.reason
    assert services.registry.champion_version() == newer
    services.close()


def test_rollback_and_promote_check_the_champion_they_were_decided_on(
        two_versions_home: Path) -> None:
    services = Services(load_settings())
    services.promote(2, actor="test")
    with pytest.raises(ConflictError, match="v2 now, not v1"):
        services.rollback(actor="test", expected_champion=1)
    assert aliases(services) == {"champion": 2, "previous": 1}
    move = services.rollback(actor="test", expected_champion=2)
    assert move.champion == 1
    result = spamops(two_versions_home, "promote", "2", "--expect-champion", "2")
    assert result.returncode != 0 and "not v2" in result.stderr
    services.close()


def test_on_a_shared_history_a_champion_change_waits_for_another_hosts(
        two_versions_home: Path, postgres_url: str) -> None:
    """With a PostgreSQL store the champion lock is also an advisory lock: a move on another
    host (here: another session holding ``champion``) keeps this one out — its pending intent
    is not mistaken for one a dead process left — and this one goes ahead once it is free."""
    from engine.champion_switch import CHAMPION_LOCK, ChampionSwitch
    from engine.clock import SystemClock
    from engine.registry import Registry
    from engine.store import Store

    settings = load_settings(home=two_versions_home)
    store = Store(two_versions_home / "pg-host.duckdb", two_versions_home / "spool",
                  clock=SystemClock(), url=postgres_url)
    store.migrate()
    registry = Registry(settings.tracking_uri, settings.model_name,
                        str(settings.artifacts_dir.resolve()))
    switch = ChampionSwitch(store=store, registry=registry, clock=SystemClock(),
                            lock_path=two_versions_home / "locks" / "champion.lock")
    other_host = store.advisory_lock(CHAMPION_LOCK, "host-b pid=4242")
    assert other_host is not None and other_host.try_acquire()
    try:
        with pytest.raises(ConflictError) as refused, switch.locked(timeout=0.5):
            pass
        assert str(refused.value) == ("another host is changing the champion "
                                      "(host-b pid=4242); try again")
    finally:
        other_host.release()
    with switch.locked(timeout=5) as current:
        assert current["champion"] == 1
        switch.move(current, registry.plan_promotion(current, 2), kind="promote",
                    actor="test", reasoning="test", action="promote", subject="v2",
                    details={})
    assert registry.aliases() == {"champion": 2, "previous": 1}
    # While this host holds it, another host cannot take it.
    with switch.locked(timeout=5):
        again = store.advisory_lock(CHAMPION_LOCK, "host-b pid=4242")
        assert again is not None and not again.try_acquire()
        again.close()
    store.close()
