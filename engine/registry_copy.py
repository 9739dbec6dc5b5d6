"""Carrying a data home's model registry over to another one (an MLflow tracking server) with
its version numbers: ``spamops registry copy --to http://HOST:PORT``.

A single-machine home keeps its registry in ``<home>/mlflow.db`` with model files under
``<home>/mlartifacts``; past one machine the registry is a tracking server (docs/deploy.md).
The history (``spamops store migrate``) names versions by number — predictions, decisions,
the audit trail, ``model_versions`` say ``v3`` — so the copy must give every version the
same number on the target. MLflow numbers a registered model's versions 1, 2, 3, ... in the
order they are created and spamops never deletes one, so copying versions 1..N in order into
a target that has no version of the model does it; anything else is refused before the first
write, and a number that still came out different stops the copy with one line.

Each version is loaded from the source, logged as a new run on the target with the metrics
and lineage tags it was trained with (plus ``copied_from``: source, version, run) and its drift
reference (the training texts; absent when retention dropped it), and registered; then the
aliases are set as on the source. The source is only read. This module calls the registry
and ``training.log_copy``; it does not talk to MLflow itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import ConflictError, ModelNotFound, SpamopsError
from engine.registry import Aliases, Registry
from engine.tracking_server import mask_password
from engine.training import log_copy

COPIED_FROM = "copied_from"
"""Lineage tag of a copied version: ``<source URI> v<N> run <run id>``."""


@dataclass(frozen=True)
class RegistryCopy:
    """What ``copy_registry`` did."""

    source: str
    target: str
    versions: list[int]
    """Versions copied, each with the same number on the target."""
    run_ids: dict[int, str]
    """Version -> its new run id on the target."""
    aliases: Aliases
    without_reference: list[int] = field(default_factory=list)
    """Versions whose drift reference retention had dropped: copied without one."""


def copy_registry(source: Registry, target: Registry, *, experiment: str,
                  artifact_location: str,
                  progress: Callable[[str], None] | None = None) -> RegistryCopy:
    """Copy every version of ``source``'s model to ``target`` with its number, then its
    aliases.

    Raises:
        ConflictError: source and target are the same registry, the target already has
            versions of the model, or the source's versions are not 1..N.
        SpamopsError: nothing to copy, or the target numbered a version differently.
        RegistryUnavailable: either registry cannot be reached.
    """
    say = progress or (lambda _message: None)
    shown_source, shown_target = (mask_password(source.tracking_uri),
                                  mask_password(target.tracking_uri))
    if source.tracking_uri.rstrip("/") == target.tracking_uri.rstrip("/"):
        raise ConflictError(f"the registry at {shown_target} is this home's own: nothing to "
                            "copy")
    infos = sorted(source.versions(), key=lambda info: info.version)
    if not infos:
        raise SpamopsError(f"nothing to copy: the registry at {shown_source} has no versions "
                           f"of {source.model_name}")
    numbers = [info.version for info in infos]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ConflictError(f"the versions at {shown_source} are not 1..{len(numbers)} "
                            f"({numbers}): their numbers could not be kept")
    existing = target.versions()
    if existing:
        raise ConflictError(
            f"the registry at {shown_target} already has {len(existing)} version(s) of "
            f"{target.model_name}: copy into one that has none, so the numbers stay")
    run_ids: dict[int, str] = {}
    without_reference: list[int] = []
    for info in infos:
        model = source.load(info.version)
        try:
            reference: list[str] | None = source.reference_texts(info.version)
        except ModelNotFound:
            reference = None
            without_reference.append(info.version)
        tags = {**info.tags,
                COPIED_FROM: f"{shown_source} v{info.version} run {info.run_id}"}
        version, run_id = log_copy(model, metrics=info.metrics, tags=tags,
                                   reference_texts=reference,
                                   tracking_uri=target.tracking_uri, experiment=experiment,
                                   model_name=target.model_name,
                                   artifact_location=artifact_location)
        if version != info.version:
            raise SpamopsError(
                f"the registry at {shown_target} numbered version {info.version} as "
                f"{version} (another process registered a version meanwhile?): the copy "
                f"stopped after version {info.version - 1}; its aliases were not set")
        run_ids[version] = run_id
        say(f"version {version} copied (run {run_id})")
    aliases = source.aliases()
    target.apply_aliases({}, aliases)
    return RegistryCopy(source=shown_source, target=shown_target, versions=numbers,
                        run_ids=run_ids, aliases=aliases, without_reference=without_reference)
