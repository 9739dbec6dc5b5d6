"""Datasets and model versions: fetch, import, train, promote, roll back.

Owns the facade's verbs on the corpus and the registry. Every change of champion goes through
``ServicesBase.champion_switch`` (a recorded intent, then the aliases), refused when the
champion moved since the caller decided (``expected_champion``). It must not decide whether
a model is good enough (that is ``engine.rules``, via the monitor) nor touch DuckDB directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.dataset import DatasetInfo, DatasetSplit
from engine.datasets import DatasetRecord, ImportResult
from engine.registry import CHAMPION, PREVIOUS, Aliases, AliasMove, ModelVersionInfo
from engine.services.core import ServicesBase
from engine.services.results import Progress, TrainOutcome
from engine.training import TrainingData

if TYPE_CHECKING:
    from engine.files import Messages
    from engine.registry_copy import RegistryCopy


class ModelsMixin(ServicesBase):
    """The corpus, imported datasets, training and champion moves."""


    def fetch_dataset(self) -> Path:
        """Fetch and verify the corpus into the data home."""
        return self.dataset.fetch()

    def dataset_info(self) -> DatasetInfo:
        """Counts, checksum and split sizes of the corpus."""
        return self.dataset.info()

    def split(self) -> DatasetSplit:
        """The persisted train/test split."""
        return self.dataset.split()

    def import_dataset(self, messages: Messages, name: str, *,
                       actor: str | None = None) -> ImportResult:
        """Store labelled ``messages`` (read by ``engine.files``) as dataset ``name``."""
        result = self.datasets.import_messages(messages, name, self.clock.now())
        if result.created:
            r = result.record
            self.audit("dataset.import", name, {
                "fingerprint": r.fingerprint, "source": r.source, "encoding": r.encoding,
                "messages": r.messages, "ham": r.ham, "spam": r.spam,
                "duplicates_removed": r.duplicates_removed,
                "blank_dropped": r.blank_dropped},
                f"imported dataset {name} ({r.messages} messages: {r.ham} ham, {r.spam} spam) "
                f"from {r.source}", actor=actor)
        return result

    def dataset_records(self) -> list[DatasetRecord]:
        """Every dataset of this home (``uci`` once fetched, then imported ones)."""
        return self.datasets.records()

    def dataset_record(self, name: str) -> DatasetRecord:
        """One dataset; raises ``NotFound``."""
        return self.datasets.record(name)

    def _champion_tags(self) -> dict[str, str] | None:
        """The champion's lineage tags (None before the first model)."""
        version = self.registry.champion_version() if self._registry_exists() else None
        return None if version is None else self.registry.version(version).tags

    def train(self, *, trigger: str = "manual", progress: Progress | None = None,
              actor: str | None = None, datasets: Sequence[str] = ()) -> TrainOutcome:
        """Train on the training split of ``datasets`` (default ``uci``), register a version;
        the first becomes champion. Lineage tags name the datasets and fingerprints."""
        from engine.training import TRAINED_AT, train_and_log

        split = self.datasets.split(datasets, progress=progress)
        lineage = {**split.lineage, "trigger": trigger,
                   TRAINED_AT: self.clock.now().isoformat(timespec="seconds")}
        data = TrainingData(split.train_texts, split.train_labels, split.test_texts,
                            split.test_labels, split.fingerprint, lineage)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        result = train_and_log(
            data, tracking_uri=self.settings.tracking_uri, experiment="spamops",
            model_name=self.settings.model_name,
            artifact_location=str(self.settings.artifacts_dir.resolve()),
            seed=self.settings.seed, progress=progress)
        became = self._adopt_first(result.version, actor=actor)
        outcome = TrainOutcome(result=result, champion_version=self.registry.require_champion(),
                               became_champion=became)
        metrics = result.metrics.as_dict()
        self.store.record_model_version(result.version, result.run_id, self.clock.now(),
                                        metrics, dict(result.lineage))
        self.audit("train", f"v{result.version}", {
            "version": result.version, "run_id": result.run_id, "trigger": trigger,
            "metrics": metrics, "n_train": result.n_train, "n_test": result.n_test,
            "lineage": dict(result.lineage), "champion_version": outcome.champion_version},
            f"trained version {result.version} ({trigger}); "
            + ("it became champion as the first version" if became
               else f"champion stays version {outcome.champion_version}"), actor=actor)
        return outcome

    def models(self) -> list[ModelVersionInfo]:
        """Registered versions, newest first."""
        return self.registry.versions()

    def copy_registry(self, target_uri: str, *, actor: str | None = None,
                      progress: Progress | None = None) -> RegistryCopy:
        """Copy this home's registry (every version with its number, lineage, drift
        reference, then the aliases) to the one at ``target_uri``, usually a tracking server
        (``engine.registry_copy``); the store's ``model_versions`` rows get the new run ids.
        Audited."""
        from engine.registry import Registry
        from engine.registry_copy import copy_registry

        target = Registry(target_uri, self.settings.model_name,
                          str(self.settings.artifacts_dir.resolve()))
        copied = copy_registry(self.registry, target, experiment="spamops",
                               artifact_location=str(self.settings.artifacts_dir.resolve()),
                               progress=progress)
        seen = {row["version"]: row for row in self.store.model_versions_seen()}
        for version in copied.versions:
            info = target.version(version)
            row = seen.get(version)
            self.store.record_model_version(
                version, copied.run_ids[version],
                row["registered_at"] if row else self.clock.now(),
                dict(info.metrics), dict(info.tags))
        self.audit("registry.copied", copied.target, {
            "source": copied.source, "target": copied.target, "versions": copied.versions,
            "aliases": copied.aliases, "without_reference": copied.without_reference},
            f"copied {len(copied.versions)} model versions with their numbers and the aliases "
            f"({', '.join(f'{a} v{v}' for a, v in sorted(copied.aliases.items()))}) to "
            f"{copied.target}", actor=actor)
        return copied

    def _adopt_first(self, version: int, *, actor: str | None) -> bool:
        """Make ``version`` champion if there is none yet; returns whether it did."""
        if self.registry.champion_version() is not None:
            return False
        with self.champion_switch.locked() as current:
            if CHAMPION in current:
                return False
            self.champion_switch.move(
                current, {**current, CHAMPION: version}, kind="adopt",
                actor=self._actor(actor), action="champion.adopted", subject=f"v{version}",
                details={"champion": version},
                reasoning=f"version {version} became champion as the first version")
        return True

    def promote(self, version: int, *, actor: str | None = None,
                reasoning: str = "promoted by an operator",
                expected_champion: int | None = None) -> AliasMove:
        """Make ``version`` the champion; the old champion becomes ``previous``.

        Args:
            expected_champion: the champion the caller decided on; refused (``ConflictError``)
                if another is champion by the time the move runs.
        """
        with self.champion_switch.locked() as current:
            _expect(current, expected_champion)
            target = self.registry.plan_promotion(current, version)
            move = AliasMove(champion=version, previous=target.get(PREVIOUS),
                             demoted=current.get(CHAMPION))
            self.champion_switch.move(
                current, target, kind="promote", actor=self._actor(actor), action="promote",
                subject=f"v{version}", reasoning=reasoning,
                details={"champion": move.champion, "previous": move.previous,
                         "demoted": move.demoted})
        return move

    def rollback(self, *, actor: str | None = None,
                 reasoning: str = "rolled back by an operator",
                 expected_champion: int | None = None) -> AliasMove:
        """Swap champion and previous.

        Args:
            expected_champion: the champion the caller saw when deciding to roll back; refused
                (``ConflictError``) if another is champion by the time the move runs.
        """
        from engine.notify.events import rolled_back

        with self.champion_switch.locked() as current:
            _expect(current, expected_champion)
            target = self.registry.plan_rollback(current)
            move = AliasMove(champion=target[CHAMPION], previous=target.get(PREVIOUS),
                             demoted=current[CHAMPION])
            self.champion_switch.move(
                current, target, kind="rollback", actor=self._actor(actor), action="rollback",
                subject=f"v{move.champion}", reasoning=reasoning,
                details={"champion": move.champion, "previous": move.previous,
                         "demoted": move.demoted},
                events=rolled_back(self.clock.now(), move.champion, move.demoted,
                                   self._actor(actor), reasoning))
        return move


def _expect(current: Aliases, expected_champion: int | None) -> None:
    """Refuse a move decided on another champion than the one there now."""
    if expected_champion is not None and current.get(CHAMPION) != expected_champion:
        from engine.errors import ConflictError

        now = current.get(CHAMPION)
        raise ConflictError(f"the champion is v{now} now, not v{expected_champion} as when "
                            "this was decided; look again and retry" if now is not None else
                            f"there is no champion now, not v{expected_champion} as when this "
                            "was decided")
