"""The UCI SMS Spam Collection: fetch, verify, parse, de-duplicate and split.

Owns the dataset cache under ``<home>/dataset``: the verified ``SMSSpamCollection`` and the
persisted train/test split (``split.parquet``), so that every later model comparison uses
exactly the same test messages. Must not know about models, MLflow or the store.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import ChecksumMismatch, DatasetError

EXPECTED_SHA256 = "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d"
"""sha256 of the ``SMSSpamCollection`` file inside the UCI zip."""
MEMBER_NAME = "SMSSpamCollection"
LABELS = ("ham", "spam")
if TYPE_CHECKING:
    import pandas as pd

SPLIT_FILE = "split.parquet"
DOWNLOAD_TIMEOUT_SECONDS = 60


def message_id(text: str) -> str:
    """A stable id for a message: the first 16 hex digits of the sha1 of its text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ParsedCorpus:
    """The parsed, de-duplicated corpus and what de-duplication removed."""

    frame: pd.DataFrame
    """Columns ``id``, ``label`` (ham/spam), ``text``; one row per distinct text."""
    raw_rows: int
    duplicates_removed: int
    conflicting_labels: int
    """Distinct texts that appeared with both labels (the first label is kept)."""


@dataclass(frozen=True)
class DatasetSplit:
    """The persisted, stratified train/test split."""

    train_ids: list[str]
    train_texts: list[str]
    train_labels: list[str]
    test_ids: list[str]
    test_texts: list[str]
    test_labels: list[str]
    fingerprint: str
    """sha256 of the verified source file: the same file always gives the same split."""
    seed: int
    test_size: float
    lineage: dict[str, str] = field(default_factory=dict)
    """Lineage tags naming the datasets and fingerprints (``engine.datasets``); empty for a
    split made here, which is the UCI corpus's."""

    @property
    def n_train(self) -> int:
        """Training messages."""
        return len(self.train_ids)

    @property
    def n_test(self) -> int:
        """Test messages."""
        return len(self.test_ids)


@dataclass(frozen=True)
class DatasetInfo:
    """What ``spamops data info`` reports."""

    path: str
    sha256: str
    raw_rows: int
    distinct_rows: int
    duplicates_removed: int
    conflicting_labels: int
    ham: int
    spam: int
    n_train: int
    n_test: int
    seed: int
    test_size: float


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _read_source(source: str) -> bytes:
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
                data: bytes = response.read()
                return data
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DatasetError(
                f"could not download the dataset from {source}: {reason}; "
                "set SPAMOPS_DATASET_URL to a local copy of the UCI zip"
            ) from None
    path = Path(urllib.parse.unquote(parsed.path)) if parsed.scheme == "file" else Path(source)
    if not path.exists():
        raise DatasetError(f"dataset file not found: {path}")
    if path.is_dir():
        candidate = path / MEMBER_NAME
        if not candidate.exists():
            raise DatasetError(f"dataset directory {path} has no {MEMBER_NAME} file")
        path = candidate
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"could not read dataset file {path}: {exc.strerror}") from None


def _extract_member(data: bytes, source: str) -> bytes:
    """Return the SMSSpamCollection bytes from a zip archive or a bare file."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if Path(n).name == MEMBER_NAME]
            if not names:
                raise DatasetError(f"the zip at {source} has no {MEMBER_NAME} member")
            return archive.read(names[0])
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"the zip at {source} is damaged: {exc}") from None


def fetch(source: str, cache_dir: Path, expected_sha256: str = EXPECTED_SHA256) -> Path:
    """Fetch the corpus from ``source`` (URL, ``file://`` URL or path), verify it and cache it.

    A cached copy whose checksum matches is reused without touching ``source``.

    Returns:
        The path of the verified ``SMSSpamCollection`` in ``cache_dir``.

    Raises:
        DatasetError: the source is missing, unreadable or not a dataset.
        ChecksumMismatch: the file's sha256 is not ``expected_sha256``.
    """
    target = cache_dir / MEMBER_NAME
    if target.exists() and sha256_of(target.read_bytes()) == expected_sha256:
        return target
    member = _extract_member(_read_source(source), source)
    actual = sha256_of(member)
    if actual != expected_sha256:
        raise ChecksumMismatch(
            f"checksum mismatch for {MEMBER_NAME} from {source}: "
            f"expected sha256 {expected_sha256[:12]}…, got {actual[:12]}…"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(member)
    partial.replace(target)
    return target


def parse(data: bytes, origin: str = MEMBER_NAME) -> ParsedCorpus:
    """Parse ``label<TAB>text`` lines and drop exact duplicate texts (first one wins).

    Raises:
        DatasetError: a line is not ``ham|spam<TAB>text``, or the file is empty or not UTF-8.
    """
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{origin} is not UTF-8 text (byte {exc.start})") from None
    labels: list[str] = []
    texts: list[str] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, text = line.partition("\t")
        label = label.strip().lower()
        text = text.strip()
        if not sep or label not in LABELS or not text:
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise DatasetError(
                f"{origin} line {number} is malformed (expected 'ham|spam<TAB>text'): {shown!r}"
            )
        labels.append(label)
        texts.append(text)
    if not texts:
        raise DatasetError(f"{origin} has no messages")
    import pandas as pd  # lazily: keeps pandas out of start-up paths that never parse

    frame = pd.DataFrame({"label": labels, "text": texts})
    label_sets = frame.groupby("text", sort=False)["label"].nunique()
    conflicting = int((label_sets > 1).sum())
    distinct = frame.drop_duplicates(subset="text", keep="first").reset_index(drop=True)
    distinct.insert(0, "id", [message_id(t) for t in distinct["text"]])
    return ParsedCorpus(
        frame=distinct,
        raw_rows=len(frame),
        duplicates_removed=len(frame) - len(distinct),
        conflicting_labels=conflicting,
    )


def stratified_split(corpus: pd.DataFrame, test_size: float, seed: int) -> pd.DataFrame:
    """Return ``corpus`` with a ``split`` column (train/test), stratified by label."""
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(
        corpus.index.to_numpy(), test_size=test_size, random_state=seed,
        stratify=corpus["label"].to_numpy(),
    )
    out = corpus.copy()
    out["split"] = "train"
    out.loc[test_idx, "split"] = "test"
    return out.loc[sorted(train_idx.tolist() + test_idx.tolist())].reset_index(drop=True)


class Dataset:
    """The verified corpus and its persisted split for one data home."""

    def __init__(self, source: str, cache_dir: Path, seed: int = 42, test_size: float = 0.2,
                 expected_sha256: str = EXPECTED_SHA256) -> None:
        self.source = source
        self.cache_dir = cache_dir
        self.seed = seed
        self.test_size = test_size
        self.expected_sha256 = expected_sha256
        self._split: DatasetSplit | None = None

    @property
    def split_path(self) -> Path:
        """Where the split is persisted."""
        return self.cache_dir / SPLIT_FILE

    def fetch(self) -> Path:
        """Fetch and verify the corpus into the cache (no-op when already cached)."""
        return fetch(self.source, self.cache_dir, self.expected_sha256)

    def corpus(self) -> ParsedCorpus:
        """Fetch if needed and parse the de-duplicated corpus."""
        path = self.fetch()
        return parse(path.read_bytes(), str(path))

    def split(self, progress: Callable[[str], None] | None = None) -> DatasetSplit:
        """Load the persisted split, creating it on first use.

        The split file records the source fingerprint, seed and test size; a split made with
        other values is an error rather than silently replaced, because comparisons between
        models are only fair on one fixed test set. Once read, the split is kept in memory
        (the simulator and every retrain ask for it) while its file exists.
        """
        if self._split is not None and self.split_path.exists():
            return self._split
        import pandas as pd

        if self.split_path.exists():
            frame = pd.read_parquet(self.split_path)
            meta = self._read_meta()
            if meta != (self.expected_sha256, self.seed, self.test_size):
                raise DatasetError(
                    f"the persisted split in {self.split_path} was made with other settings "
                    f"(checksum/seed/test_size {meta}); delete it to re-split"
                )
        else:
            corpus = self.corpus()
            if progress:
                progress(f"parsed {corpus.raw_rows} messages, removed "
                         f"{corpus.duplicates_removed} duplicates")
            frame = stratified_split(corpus.frame, self.test_size, self.seed)
            self._write(frame)
        train = frame[frame["split"] == "train"]
        test = frame[frame["split"] == "test"]
        self._split = DatasetSplit(
            train_ids=train["id"].tolist(), train_texts=train["text"].tolist(),
            train_labels=train["label"].tolist(), test_ids=test["id"].tolist(),
            test_texts=test["text"].tolist(), test_labels=test["label"].tolist(),
            fingerprint=self.expected_sha256, seed=self.seed, test_size=self.test_size,
        )
        return self._split

    def _write(self, frame: pd.DataFrame) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = self.split_path.with_suffix(".partial")
        frame.to_parquet(partial, index=False)
        partial.replace(self.split_path)
        self._meta_path.write_text(f"{self.expected_sha256}\n{self.seed}\n{self.test_size}\n")

    @property
    def _meta_path(self) -> Path:
        return self.cache_dir / "split.meta"

    def _read_meta(self) -> tuple[str, int, float] | None:
        try:
            sha, seed, size = self._meta_path.read_text().split()
            return sha, int(seed), float(size)
        except (OSError, ValueError):
            return None

    def info(self) -> DatasetInfo:
        """Describe the cached corpus and the split (fetching and splitting if needed)."""
        corpus = self.corpus()
        split = self.split()
        counts = corpus.frame["label"].value_counts()
        return DatasetInfo(
            path=str(self.cache_dir / MEMBER_NAME), sha256=self.expected_sha256,
            raw_rows=corpus.raw_rows, distinct_rows=len(corpus.frame),
            duplicates_removed=corpus.duplicates_removed,
            conflicting_labels=corpus.conflicting_labels,
            ham=int(counts.get("ham", 0)), spam=int(counts.get("spam", 0)),
            n_train=split.n_train, n_test=split.n_test, seed=self.seed,
            test_size=self.test_size,
        )

    def clear(self) -> None:
        """Delete the cache (used by tests and ``demo --fresh``)."""
        self._split = None
        shutil.rmtree(self.cache_dir, ignore_errors=True)
