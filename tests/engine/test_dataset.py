"""The dataset contract: verified fetch, robust parsing, de-duplication, a fixed split."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from engine.dataset import (
    EXPECTED_SHA256,
    Dataset,
    fetch,
    message_id,
    parse,
    stratified_split,
)
from engine.errors import ChecksumMismatch, DatasetError
from tests.conftest import dataset_source


def _zip_with(member: bytes, name: str = "SMSSpamCollection") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, member)
    return buffer.getvalue()


def test_fetch_verifies_and_caches_the_shared_zip(tmp_path: Path) -> None:
    path = fetch(dataset_source(), tmp_path / "cache")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == EXPECTED_SHA256


def test_fetch_accepts_a_file_url(tmp_path: Path) -> None:
    url = Path(dataset_source()).resolve().as_uri()
    assert fetch(url, tmp_path / "cache").exists()


def test_fetch_reuses_a_verified_cache_without_the_source(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fetch(dataset_source(), cache)
    assert fetch(str(tmp_path / "gone.zip"), cache).exists()


def test_checksum_mismatch_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_zip_with(b"ham\thello\n"))
    with pytest.raises(ChecksumMismatch, match="checksum mismatch"):
        fetch(str(bad), tmp_path / "cache")
    assert not (tmp_path / "cache" / "SMSSpamCollection").exists()


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        fetch(str(tmp_path / "nope.zip"), tmp_path / "cache")


def test_zip_without_the_member_is_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "other.zip"
    archive.write_bytes(_zip_with(b"x", name="readme"))
    with pytest.raises(DatasetError, match="no SMSSpamCollection"):
        fetch(str(archive), tmp_path / "cache")


def test_unreachable_url_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="SPAMOPS_DATASET_URL"):
        fetch("http://127.0.0.1:9/sms.zip", tmp_path / "cache")


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"ham\thello\nnot a labelled line\n", 2),
        (b"ham\thello\nspam\t\n", 2),
        (b"maybe\thello\n", 1),
    ],
)
def test_malformed_line_names_its_number(content: bytes, line: int) -> None:
    with pytest.raises(DatasetError, match=f"line {line} is malformed"):
        parse(content)


def test_parse_tolerates_crlf_blank_lines_and_case() -> None:
    corpus = parse(b"HAM\thello there\r\n\r\nspam\tWIN now\r\n")
    assert corpus.frame["label"].tolist() == ["ham", "spam"]
    assert corpus.frame["text"].tolist() == ["hello there", "WIN now"]


def test_empty_and_non_utf8_input_are_rejected() -> None:
    with pytest.raises(DatasetError, match="no messages"):
        parse(b"\n\n")
    with pytest.raises(DatasetError, match="not UTF-8"):
        parse(b"ham\t\xff\xfe\n")


def test_duplicates_are_reported_and_dropped_first_wins() -> None:
    corpus = parse(b"ham\thi\nspam\tWIN\nham\thi\nspam\thi\n")
    assert corpus.raw_rows == 4
    assert corpus.duplicates_removed == 2
    assert corpus.conflicting_labels == 1
    assert corpus.frame["text"].tolist() == ["hi", "WIN"]
    assert corpus.frame["label"].tolist() == ["ham", "spam"]
    assert corpus.frame["id"].tolist() == [message_id("hi"), message_id("WIN")]


def test_real_corpus_has_no_duplicate_texts_after_parsing(tmp_path: Path) -> None:
    dataset = Dataset(dataset_source(), tmp_path)
    corpus = dataset.corpus()
    assert corpus.raw_rows == 5574
    assert corpus.duplicates_removed > 300
    assert corpus.frame["text"].is_unique


def test_split_is_stratified_disjoint_and_deterministic(tmp_path: Path) -> None:
    one = Dataset(dataset_source(), tmp_path / "a").split()
    two = Dataset(dataset_source(), tmp_path / "b").split()
    assert one.test_ids == two.test_ids
    assert not set(one.train_texts) & set(one.test_texts)
    spam_share_train = one.train_labels.count("spam") / one.n_train
    spam_share_test = one.test_labels.count("spam") / one.n_test
    assert abs(spam_share_train - spam_share_test) < 0.01


def test_split_is_persisted_and_reloaded(tmp_path: Path) -> None:
    dataset = Dataset(dataset_source(), tmp_path)
    first = dataset.split()
    assert dataset.split_path.exists()
    assert Dataset(dataset_source(), tmp_path).split().test_ids == first.test_ids


def test_split_with_other_settings_is_refused(tmp_path: Path) -> None:
    Dataset(dataset_source(), tmp_path, seed=1).split()
    with pytest.raises(DatasetError, match="other settings"):
        Dataset(dataset_source(), tmp_path, seed=2).split()


def test_different_seed_gives_a_different_split() -> None:
    corpus = parse(b"".join(f"{'spam' if i % 5 == 0 else 'ham'}\tmsg {i}\n".encode()
                            for i in range(200)))
    a = stratified_split(corpus.frame, 0.2, 1)
    b = stratified_split(corpus.frame, 0.2, 2)
    assert a["split"].tolist() != b["split"].tolist()
