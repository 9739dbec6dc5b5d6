"""The MLflow model registry: versions, the ``champion``/``previous`` aliases, loading.

Only this package (with ``tracking``) and ``training.py`` talk to MLflow. By default MLflow
uses a sqlite backend and a local artifact folder under the data home; with
``mlflow_tracking_uri = http://host:port`` it talks to an ``mlflow server`` (several hosts
share one registry; artifacts go through the server's proxy, ``mlflow-artifacts:/``).
Telemetry is off and nothing else reaches the network.
``import mlflow`` costs over a second, so it happens lazily, on first use.

A tracking server that cannot be reached is ``RegistryUnavailable``, one line, after a few
seconds (``engine.registry.tracking``: MLflow's HTTP retries are cut from minutes to two); a
missing model or alias is told apart from it by MLflow's error code, never assumed from any
failure.

Alias semantics:
- the first registered version becomes ``champion``;
- ``promote(v)`` moves ``champion`` to ``v`` and the old champion to ``previous``;
- ``rollback()`` swaps them: ``previous`` becomes ``champion`` and the demoted version becomes
  ``previous``, so a second rollback undoes the first.

A change of champion spans two systems (these aliases and the store's record of it), so it is
not made here but by ``engine.champion_switch``, which records the intended move first and
calls ``plan_promotion``/``plan_rollback`` and ``apply_aliases``.

Loaded models are cached per process, bounded: the versions holding an alias when last seen
(champion, previous, challenger) plus the one most recently loaded without one (a challenger
under comparison). ``retain`` drops the rest when the aliases move (issue 14: three champions
used to grow the process by ~110 MiB).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, Concatenate, ParamSpec, TypeVar

from engine.errors import ModelNotFound, NoChampionError, RegistryUnavailable, SpamopsError
from engine.failpoints import failpoint
from engine.lineage import REFERENCE_ARTIFACT, TRAINED_AT
from engine.registry.tracking import (
    ensure_experiment as ensure_experiment,
)
from engine.registry.tracking import (
    import_mlflow as import_mlflow,
)
from engine.registry.tracking import (
    is_missing as is_missing,
)
from engine.registry.tracking import (
    is_tracking_server as is_tracking_server,
)
from engine.registry.tracking import (
    quiet_mlflow_environment as quiet_mlflow_environment,
)
from engine.registry.tracking import (
    reaching as reaching,
)
from engine.registry.tracking import (
    unreachable_reason as unreachable_reason,
)
from engine.relocation import adopt_artifact_root

CHAMPION = "champion"
PREVIOUS = "previous"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, PREVIOUS, CHALLENGER)
"""Every alias spamops moves, in the order ``apply_aliases`` writes them."""
EXPERIMENT = "spamops"

UNPINNED_MODELS = 1
"""Models kept loaded beyond the alias holders: the latest one loaded without an alias."""

Aliases = dict[str, int]
"""Alias name -> version, for the aliases that exist (a missing key: no such alias)."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _reaching_server(method: Callable[Concatenate[Registry, _P], _T]
                     ) -> Callable[Concatenate[Registry, _P], _T]:
    """Run a ``Registry`` method inside ``reaching(self.tracking_uri)``."""

    @functools.wraps(method)
    def wrapper(registry: Registry, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with reaching(registry.tracking_uri):
            return method(registry, *args, **kwargs)

    return wrapper


def _utc(epoch_ms: int) -> datetime:
    """MLflow's epoch milliseconds as a naive UTC datetime (the engine's convention)."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).replace(tzinfo=None)


def _created_at(tags: dict[str, str], epoch_ms: int) -> datetime:
    """When a version was trained: its ``trained_at`` lineage tag (the engine's clock), else
    MLflow's creation time (versions registered before the tag existed)."""
    try:
        return datetime.fromisoformat(tags[TRAINED_AT]).replace(tzinfo=None)
    except (KeyError, ValueError):
        return _utc(epoch_ms)


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version with its aliases and test metrics."""

    version: int
    aliases: tuple[str, ...]
    created_at: datetime
    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    """Lineage recorded at training: dataset fingerprint, trigger, feedback range, ..."""

    @property
    def is_champion(self) -> bool:
        """Whether this version carries the champion alias."""
        return CHAMPION in self.aliases


@dataclass(frozen=True)
class AliasMove:
    """The result of a promotion or rollback."""

    champion: int
    previous: int | None
    demoted: int | None


class Registry:
    """The registered model of one data home."""

    def __init__(self, tracking_uri: str, model_name: str, artifact_location: str) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.artifact_location = artifact_location
        self._models: OrderedDict[int, Any] = OrderedDict()
        self._pinned: set[int] = set()
        """Versions holding an alias when last seen: never evicted while they do."""
        self._runs: dict[str, tuple[dict[str, float], dict[str, str]]] = {}
        self._lock = threading.Lock()
        self._located = False

    def _mlflow(self) -> ModuleType:
        """MLflow, pointed at this home; the first call re-points a moved home's registry."""
        if not self._located:
            adopt_artifact_root(self.tracking_uri, self.artifact_location)
            self._located = True
        return import_mlflow(self.tracking_uri)

    def _client(self) -> Any:
        mlflow = self._mlflow()
        return mlflow.MlflowClient(tracking_uri=self.tracking_uri,
                                   registry_uri=self.tracking_uri)

    def _model_exists(self, client: Any) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            client.get_registered_model(self.model_name)
        except MlflowException as exc:
            if is_missing(exc):
                return False
            raise
        return True

    @_reaching_server
    def versions(self) -> list[ModelVersionInfo]:
        """All versions, newest first, with aliases, test metrics and lineage tags."""
        client = self._client()
        if not self._model_exists(client):
            return []
        found = client.search_model_versions(f"name='{self.model_name}'")
        registered = client.get_registered_model(self.model_name)
        aliases_by_version: dict[int, list[str]] = {}
        for alias, version in (registered.aliases or {}).items():
            aliases_by_version.setdefault(int(version), []).append(alias)
        out = []
        for mv in found:
            metrics, tags = self._run_data(client, mv.run_id)
            out.append(ModelVersionInfo(
                version=int(mv.version),
                aliases=tuple(sorted(aliases_by_version.get(int(mv.version), []))),
                created_at=_created_at(tags, mv.creation_timestamp),
                run_id=mv.run_id or "",
                metrics=dict(metrics), tags=dict(tags),
            ))
        return sorted(out, key=lambda info: info.version, reverse=True)

    @_reaching_server
    def _run_data(self, client: Any, run_id: str | None
                  ) -> tuple[dict[str, float], dict[str, str]]:
        """Metrics and lineage tags of a finished training run, fetched once per process.

        A version's run is complete before it is registered, so its data never changes; the
        console and the dashboard list versions every few seconds.
        """
        if not run_id:
            return {}, {}
        with self._lock:
            cached = self._runs.get(run_id)
        if cached is None:
            run = client.get_run(run_id)
            cached = (dict(run.data.metrics),
                      {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
            with self._lock:
                self._runs[run_id] = cached
        return cached

    def version(self, version: int) -> ModelVersionInfo:
        """One version; raises ``ModelNotFound``."""
        for info in self.versions():
            if info.version == version:
                return info
        raise ModelNotFound(f"model version {version} does not exist")

    @_reaching_server
    def alias_version(self, alias: str) -> int | None:
        """The version carrying ``alias``, or None."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            return int(client.get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException as exc:
            if is_missing(exc):
                return None
            raise

    def champion_version(self) -> int | None:
        """The champion's version number, or None before the first training."""
        return self.alias_version(CHAMPION)

    def require_champion(self) -> int:
        """The champion's version; raises ``NoChampionError`` when there is none."""
        version = self.champion_version()
        if version is None:
            raise NoChampionError("no champion model yet: run `spamops train` first")
        return version

    @_reaching_server
    def aliases(self) -> Aliases:
        """Every alias of the registered model with its version, in one registry read."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            registered = client.get_registered_model(self.model_name)
        except MlflowException as exc:
            if is_missing(exc):
                return {}
            raise
        return {alias: int(version) for alias, version in (registered.aliases or {}).items()
                if alias in ALIASES}

    def load(self, version: int) -> Any:
        """The fitted scikit-learn pipeline of ``version`` (cached, bounded: see the module)."""
        with self._lock:
            if version in self._models:
                self._models.move_to_end(version)
                return self._models[version]
        mlflow = self._mlflow()
        from mlflow.exceptions import MlflowException

        try:
            with reaching(self.tracking_uri):
                model = mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")
        except (MlflowException, OSError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelNotFound(f"could not load model version {version}: {message}") from None
        with self._lock:
            self._models[version] = model
            self._evict()
        return model

    def retain(self, aliases: Aliases) -> None:
        """The aliases are now ``aliases``: keep their versions loaded, evict the others but
        the most recently loaded one (it may be a challenger under comparison)."""
        with self._lock:
            self._pinned = set(aliases.values())
            self._evict()

    def loaded_versions(self) -> list[int]:
        """Versions whose models this process holds, least recently used first."""
        with self._lock:
            return list(self._models)

    def _evict(self) -> None:
        unpinned = [v for v in self._models if v not in self._pinned]
        for version in unpinned[:max(0, len(unpinned) - UNPINNED_MODELS)]:
            del self._models[version]

    def load_champion(self) -> tuple[int, Any]:
        """The champion's version and fitted pipeline."""
        version = self.require_champion()
        return version, self.load(version)

    @_reaching_server
    def reference_texts(self, version: int) -> list[str]:
        """The training texts of ``version``: its drift reference."""
        import pandas as pd

        mlflow = self._mlflow()
        info = self.version(version)
        try:
            with reaching(self.tracking_uri):
                path = mlflow.artifacts.download_artifacts(run_id=info.run_id,
                                                           artifact_path=REFERENCE_ARTIFACT)
        except RegistryUnavailable:
            raise
        except Exception as exc:  # MLflow raises several unrelated types here
            raise ModelNotFound(
                f"model version {version} has no reference texts: {exc}") from None
        return [str(t) for t in pd.read_parquet(path)["text"].tolist()]

    @_reaching_server
    def drop_reference_texts(self, version: int, *, dry_run: bool = False) -> bool:
        """Delete the drift reference (training texts) logged with ``version`` (with
        ``dry_run``, only say whether there is one).

        Retention keeps only what the champion was trained on (docs/architecture.md,
        "Retention"). Returns whether there was one. Uses the run's artifact repository's
        ``delete_artifacts`` (MLflow ``ArtifactRepository``).
        """
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        client = self._client()
        run = client.get_run(self.version(version).run_id)
        repo: Any = get_artifact_repository(run.info.artifact_uri)
        if not any(f.path == REFERENCE_ARTIFACT for f in repo.list_artifacts()):
            return False
        if not dry_run:
            repo.delete_artifacts(REFERENCE_ARTIFACT)
        return True

    @_reaching_server
    def set_alias(self, alias: str, version: int) -> None:
        """Point ``alias`` at ``version``."""
        self._client().set_registered_model_alias(self.model_name, alias, str(version))

    @_reaching_server
    def delete_alias(self, alias: str) -> None:
        """Remove ``alias`` if it exists."""
        from mlflow.exceptions import MlflowException

        try:
            self._client().delete_registered_model_alias(self.model_name, alias)
        except MlflowException as exc:
            if not is_missing(exc):
                raise

    def apply_aliases(self, current: Aliases, target: Aliases) -> None:
        """Move the aliases from ``current`` to ``target``: one MLflow write per alias that
        differs (champion first). Not atomic: ``engine.champion_switch`` records the move
        before calling this and finishes or undoes it if the process dies half-way."""
        first = True
        for alias in ALIASES:
            if current.get(alias) == target.get(alias):
                continue
            if not first:
                failpoint("alias.between_writes")
            first = False
            version = target.get(alias)
            if version is None:
                self.delete_alias(alias)
            else:
                self.set_alias(alias, version)
        self.retain(target)

    def plan_promotion(self, current: Aliases, version: int) -> Aliases:
        """The aliases after promoting ``version``: the old champion becomes ``previous``, and
        ``challenger`` goes if it was this version. Raises when there is nothing to do."""
        self.version(version)
        if current.get(CHAMPION) == version:
            raise SpamopsError(f"version {version} is already the champion")
        target = dict(current)
        target[CHAMPION] = version
        if CHAMPION in current:
            target[PREVIOUS] = current[CHAMPION]
        if current.get(CHALLENGER) == version:
            del target[CHALLENGER]
        return target

    @staticmethod
    def plan_rollback(current: Aliases) -> Aliases:
        """The aliases after a rollback: champion and previous swap."""
        if PREVIOUS not in current:
            raise ModelNotFound("there is no previous version to roll back to")
        if CHAMPION not in current:
            raise NoChampionError("no champion model yet: run `spamops train` first")
        return {**current, CHAMPION: current[PREVIOUS], PREVIOUS: current[CHAMPION]}
