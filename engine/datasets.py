"""Imported datasets: normalised copies of people's own files, each a fixed version.

Owns ``<home>/datasets``:

- ``<name>/messages.parquet`` (columns ``id``, ``label``, ``text``; one row per distinct text)
  and ``<name>/meta.json`` (a ``DatasetRecord``: content fingerprint, counts, duplicates
  removed, class balance, source path, encoding). A name is never re-used for other content:
  importing the same content again is a no-op, other content needs another name. So a name
  and its fingerprint, recorded on every model version, always mean the same messages.
- ``splits/<key>.parquet``: the persisted stratified train/test split of each dataset or
  combination of datasets (several are concatenated in the given order and de-duplicated by
  text, the first label winning), keyed by their names and fingerprints.

The UCI corpus stays the default under the name ``uci``; its cache and split stay where
``engine.dataset.Dataset`` keeps them. ``ChampionDatasets`` gives the monitor the split of the
datasets the champion was trained on, so that a challenger is trained and compared on the
champion's split. Must not know about models, MLflow or the store.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.dataset import Dataset, DatasetSplit, message_id, stratified_split
from engine.errors import ConflictError, DatasetError, InvalidInput, NotFound
from engine.files import Messages

if TYPE_CHECKING:
    import pandas as pd

UCI = "uci"
"""The built-in dataset: the verified UCI SMS Spam Collection."""
MIN_PER_CLASS = 50
"""Fewest messages of each class a dataset (or combination) must have to be trained on."""
DATASETS_TAG = "datasets"
"""Lineage tag: the dataset names a version was trained on, comma-separated, in order."""
FINGERPRINTS_TAG = "dataset_fingerprints"
"""Lineage tag: ``name:fingerprint`` of each dataset, comma-separated (16 hex digits each)."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset as ``data list`` and ``data info`` show it."""

    name: str
    fingerprint: str
    """sha256 of the normalised content (sorted ``label<TAB>text`` lines)."""
    source: str
    encoding: str
    format: str
    text_column: str | None
    label_column: str | None
    imported_at: datetime | None
    rows_read: int
    blank_dropped: int
    duplicates_removed: int
    conflicting_labels: int
    """Distinct texts that appeared with both labels (the first label is kept)."""
    messages: int
    ham: int
    spam: int
    label_counts: dict[str, int] = field(default_factory=dict)
    """Original label values and their counts (``Smishing`` -> 616, ...)."""

    @property
    def spam_share(self) -> float:
        """Share of spam among the distinct messages."""
        return self.spam / self.messages if self.messages else 0.0


@dataclass(frozen=True)
class ImportResult:
    """What ``data import`` did."""

    record: DatasetRecord
    created: bool
    """False when the same content was already imported under this name."""


def short(fingerprint: str) -> str:
    """The 16 hex digits of a fingerprint that lineage tags carry."""
    return fingerprint[:16]


def _fingerprint(frame: pd.DataFrame) -> str:
    lines = sorted(f"{label}\t{text}" for label, text in zip(frame["label"], frame["text"],
                                                               strict=True))
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _distinct(labels: Sequence[str], texts: Sequence[str]) -> tuple[pd.DataFrame, int, int]:
    """De-duplicate by text, first label wins: (frame id/label/text, removed, conflicting)."""
    import pandas as pd

    frame = pd.DataFrame({"label": list(labels), "text": list(texts)})
    conflicting = int((frame.groupby("text", sort=False)["label"].nunique() > 1).sum())
    distinct = frame.drop_duplicates(subset="text", keep="first").reset_index(drop=True)
    distinct.insert(0, "id", [message_id(t) for t in distinct["text"]])
    return distinct, len(frame) - len(distinct), conflicting


def check_balance(ham: int, spam: int, what: str) -> None:
    """Refuse a dataset with fewer than ``MIN_PER_CLASS`` messages of either class."""
    if min(ham, spam) < MIN_PER_CLASS:
        raise InvalidInput(
            f"{what} has {ham} ham and {spam} spam messages; a model needs at least "
            f"{MIN_PER_CLASS} of each class (check --label-column and --label-map)")


class DatasetCatalog:
    """The datasets of one data home: the built-in UCI corpus and imported ones."""

    def __init__(self, root: Path, uci: Dataset) -> None:
        self.root = root
        self.uci = uci
        self._splits: dict[str, DatasetSplit] = {}

    # Importing ---------------------------------------------------------------------------
    def import_messages(self, messages: Messages, name: str, now: datetime) -> ImportResult:
        """Store the labelled ``messages`` as dataset ``name`` (atomically: all or nothing).

        Raises:
            InvalidInput: bad name, unlabelled file, or too few messages of a class.
            ConflictError: ``name`` already holds other content.
        """
        if not _NAME.match(name) or name == UCI:
            raise InvalidInput(f"dataset name {name!r} must be 1-64 lowercase letters, digits, "
                               "'.', '_' or '-', and not 'uci'")
        if messages.labels is None:
            raise InvalidInput(f"{messages.source} has no label column; pass --label-column")
        labels = [label or "" for label in messages.labels]
        frame, removed, conflicting = _distinct(labels, messages.texts)
        counts = frame["label"].value_counts()
        ham, spam = int(counts.get("ham", 0)), int(counts.get("spam", 0))
        check_balance(ham, spam, f"{messages.source} (as dataset {name!r})")
        record = DatasetRecord(
            name=name, fingerprint=_fingerprint(frame), source=str(Path(messages.source)
                                                                  .resolve()),
            encoding=messages.encoding, format=messages.format,
            text_column=messages.text_column, label_column=messages.label_column,
            imported_at=now, rows_read=messages.rows_read,
            blank_dropped=messages.blank_dropped, duplicates_removed=removed,
            conflicting_labels=conflicting, messages=len(frame), ham=ham, spam=spam,
            label_counts=dict(messages.label_counts))
        target = self.root / name
        if target.exists():
            existing = self.record(name)
            if existing.fingerprint == record.fingerprint:
                return ImportResult(existing, created=False)
            raise ConflictError(
                f"dataset {name!r} already holds other messages (fingerprint "
                f"{short(existing.fingerprint)}); import under another name")
        staging = self.root / f".importing-{uuid.uuid4().hex}"
        try:
            staging.mkdir(parents=True)
            frame.to_parquet(staging / "messages.parquet", index=False)
            (staging / "meta.json").write_text(json.dumps(_encode(record), indent=1),
                                               encoding="utf-8")
            staging.rename(target)
        except OSError as exc:
            raise DatasetError(f"could not store dataset {name!r}: {exc}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return ImportResult(record, created=True)

    # Reading -----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Imported dataset names, sorted (``uci`` not included)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and (p / "meta.json").exists())

    def record(self, name: str) -> DatasetRecord:
        """One dataset's record (``uci`` too, fetching it if needed).

        Raises:
            NotFound: no dataset has that name.
        """
        if name == UCI:
            return self._uci_record()
        meta = self.root / name / "meta.json"
        if not meta.exists():
            raise NotFound(self._unknown(name))
        return _decode(json.loads(meta.read_text(encoding="utf-8")))

    def _unknown(self, name: str) -> str:
        """The error for a missing dataset: the names this home holds (never one it does
        not), a close match, and how to get UCI when it has not been fetched."""
        present = ([UCI] if self.uci_fetched() else []) + self.names()
        close = difflib.get_close_matches(name, present, n=1)
        held = (f"this home has {', '.join(present)}" if present
                else "this home has no dataset yet")
        hint = f"did you mean {close[0]!r}? " if close else ""
        get_uci = ("" if UCI in present
                   else "`spamops data fetch` gets the UCI corpus (as `uci`); ")
        return (f"no dataset named {name!r} ({held}); {hint}{get_uci}"
                "`spamops data import FILE --name NAME` adds your own")

    def uci_fetched(self) -> bool:
        """Whether the UCI corpus is in this home's cache (``spamops data fetch`` ran)."""
        return (self.uci.cache_dir / "SMSSpamCollection").exists()

    def records(self) -> list[DatasetRecord]:
        """Every dataset: ``uci`` first when it has been fetched, then imported ones."""
        found = [self._uci_record()] if self.uci_fetched() else []
        return found + [self.record(n) for n in self.names()]

    def _uci_record(self) -> DatasetRecord:
        corpus = self.uci.corpus()
        counts = corpus.frame["label"].value_counts()
        return DatasetRecord(
            name=UCI, fingerprint=self.uci.expected_sha256, source=self.uci.source,
            encoding="utf-8", format="uci", text_column=None, label_column=None,
            imported_at=None, rows_read=corpus.raw_rows, blank_dropped=0,
            duplicates_removed=corpus.duplicates_removed,
            conflicting_labels=corpus.conflicting_labels, messages=len(corpus.frame),
            ham=int(counts.get("ham", 0)), spam=int(counts.get("spam", 0)))

    def frame(self, name: str) -> pd.DataFrame:
        """The messages of one dataset: columns ``id``, ``label``, ``text``."""
        if name == UCI:
            return self.uci.corpus().frame
        import pandas as pd

        self.record(name)
        return pd.read_parquet(self.root / name / "messages.parquet")

    # Splits ------------------------------------------------------------------------------
    def split(self, names: Sequence[str], *, expected: dict[str, str] | None = None,
              progress: Callable[[str], None] | None = None) -> DatasetSplit:
        """The persisted split of one dataset or of a combination, made on first use.

        Args:
            expected: ``name -> 16-digit fingerprint`` the datasets must still have (the
                champion's lineage); a mismatch is an error, never a silent other split.

        Raises:
            NotFound, DatasetError, InvalidInput (too few of a class).
        """
        names = list(dict.fromkeys(n.strip().lower() for n in names if n.strip())) or [UCI]
        records = [self.record(n) for n in names]
        for record in records:
            want = (expected or {}).get(record.name)
            if want is not None and not record.fingerprint.startswith(want):
                raise DatasetError(
                    f"dataset {record.name!r} now has fingerprint {short(record.fingerprint)}, "
                    f"but the champion was trained on {want}; restore it or retrain by hand")
        lineage = {DATASETS_TAG: ",".join(names),
                   FINGERPRINTS_TAG: ",".join(f"{r.name}:{short(r.fingerprint)}"
                                              for r in records)}
        if names == [UCI]:
            return replace(self.uci.split(progress), lineage=lineage)
        key = hashlib.sha256(lineage[FINGERPRINTS_TAG].encode()).hexdigest()[:16]
        if key in self._splits:
            return self._splits[key]
        path = self.root / "splits" / f"{key}.parquet"
        import pandas as pd

        if path.exists():
            frame = pd.read_parquet(path)
        else:
            frames = [self.frame(n)[["label", "text"]] for n in names]
            combined = pd.concat(frames, ignore_index=True)
            distinct, removed, _ = _distinct(combined["label"].tolist(),
                                             combined["text"].tolist())
            counts = distinct["label"].value_counts()
            check_balance(int(counts.get("ham", 0)), int(counts.get("spam", 0)),
                          f"dataset {' + '.join(names)}")
            if progress and len(names) > 1:
                progress(f"combined {' + '.join(names)}: {len(distinct)} distinct messages "
                         f"({removed} duplicates across datasets removed)")
            frame = stratified_split(distinct, self.uci.test_size, self.uci.seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{uuid.uuid4().hex}.partial")
            frame.to_parquet(partial, index=False)
            partial.replace(path)
        train = frame[frame["split"] == "train"]
        test = frame[frame["split"] == "test"]
        split = DatasetSplit(
            train_ids=train["id"].tolist(), train_texts=train["text"].tolist(),
            train_labels=train["label"].tolist(), test_ids=test["id"].tolist(),
            test_texts=test["text"].tolist(), test_labels=test["label"].tolist(),
            fingerprint=hashlib.sha256(lineage[FINGERPRINTS_TAG].encode()).hexdigest(),
            seed=self.uci.seed, test_size=self.uci.test_size, lineage=lineage)
        self._splits[key] = split
        return split


def lineage_datasets(tags: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The dataset names and expected fingerprints in a version's lineage tags.

    Versions trained before datasets existed carry no tag: they were trained on ``uci``.
    """
    names = [n for n in tags.get(DATASETS_TAG, "").split(",") if n] or [UCI]
    expected = dict(item.split(":", 1) for item in tags.get(FINGERPRINTS_TAG, "").split(",")
                    if ":" in item)
    return names, expected


class ChampionDatasets:
    """The monitor's dataset: the split of whatever the champion was trained on.

    ``Monitor`` calls ``split()`` when it trains and compares a challenger; answering with the
    champion's datasets keeps both models on one test split (the comparison is only fair
    there) and trains the challenger on the data the champion learned from, plus feedback.
    """

    def __init__(self, catalog: DatasetCatalog,
                 champion_tags: Callable[[], dict[str, str] | None]) -> None:
        self.catalog = catalog
        self._champion_tags = champion_tags

    def split(self, progress: Callable[[str], None] | None = None) -> DatasetSplit:
        """The champion's split (``uci`` when there is no champion or no lineage tag)."""
        names, expected = lineage_datasets(self._champion_tags() or {})
        return self.catalog.split(names, expected=expected, progress=progress)

    def __getattr__(self, name: str) -> Any:  # anything else (cache_dir, ...) is the UCI's
        return getattr(self.catalog.uci, name)


def _encode(record: DatasetRecord) -> dict[str, Any]:
    out = asdict(record)
    out["imported_at"] = record.imported_at.isoformat() if record.imported_at else None
    return out


def _decode(raw: dict[str, Any]) -> DatasetRecord:
    stamp = raw.get("imported_at")
    raw = {**raw, "imported_at": datetime.fromisoformat(stamp) if stamp else None}
    return DatasetRecord(**raw)
