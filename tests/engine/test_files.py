"""engine.files: the formats and quirks of the message files people have.

Every fixture is written here, byte by byte where the bytes matter; the real Mishra & Soni
file is read from ../shared/data when it is there (never committed).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from engine.errors import InvalidInput
from engine.files import messages_of, read_messages, read_table
from engine.labels import parse_label_map

REAL_MISHRA = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
               / "sms_phishing_mishra_soni_2022.csv")


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def test_kaggle_shaped_latin1_file_with_empty_unnamed_columns(tmp_path: Path) -> None:
    """`v1,v2,,,` header, cp1252/latin-1 bytes (a pound sign as 0xA3), text running on."""
    raw = (b'v1,v2,,,\r\n'
           b'ham,"Go until jurong point, crazy.. Available only in bugis",,,\r\n'
           b'spam,"WINNER!! Claim your \xa3900 prize now, call 09061701461",,,\r\n'
           b'ham,"He said ""hi""", and then he left,,\r\n')
    table = read_table(write(tmp_path / "spam.csv", raw))
    assert (table.format, table.encoding) == ("csv", "cp1252 (detected)")
    messages = messages_of(table)
    assert (messages.text_column, messages.label_column) == ("v2", "v1")
    assert messages.texts[1] == "WINNER!! Claim your £900 prize now, call 09061701461"
    assert messages.texts[2] == 'He said "hi", and then he left'
    assert messages.continued_rows == 1
    assert messages.labels == ["ham", "spam", "ham"]
    summary = messages.summary()
    assert "cp1252 (detected)" in summary and "text column `v2`" in summary


def test_bom_and_crlf_one_column_file_with_blank_rows(tmp_path: Path) -> None:
    raw = "\ufefftext\r\nhello there\r\n\r\n   \r\nsecond one, with a comma\r\nthird\r\n"
    table = read_table(write(tmp_path / "one.csv", raw))
    assert table.encoding == "utf-8 with BOM" and table.columns == ["text"]
    messages = messages_of(table)
    assert messages.texts == ["hello there", "second one, with a comma", "third"]
    assert messages.blank_dropped == 2 and "dropped 2 blank texts" in messages.summary()
    assert [table.where(r) for r in messages.rows] == ["line 2", "line 5", "line 6"]


def test_one_column_header_without_csv_suffix_is_still_a_column(tmp_path: Path) -> None:
    assert read_messages(write(tmp_path / "m.txt", "message\nfirst\nsecond\n")) == [
        "first", "second"]


def test_quoted_multi_line_fields_keep_their_lines(tmp_path: Path) -> None:
    raw = ('label,text\nspam,"Line one\nline two of the same message"\nham,plain\n'
           'bogus,"x"\n')
    table = read_table(write(tmp_path / "multi.csv", raw))
    with pytest.raises(InvalidInput, match=r"'bogus' \(1\) \(first at line 5\)"):
        messages_of(table)
    messages = messages_of(table, labels="ignore")
    assert messages.texts[0] == "Line one\nline two of the same message"


@pytest.mark.parametrize(("name", "content", "delimiter"), [
    ("semi.csv", "label;text\nham;hello, friend\nspam;win now\n", ";"),
    ("pipe.txt", "class|message\nham|hello, friend\nspam|win now\n", "|"),
    ("tabs.tsv", "label\ttext\nham\thello, friend\nspam\twin now\n", "\t"),
])
def test_delimiters_are_sniffed(tmp_path: Path, name: str, content: str,
                                delimiter: str) -> None:
    table = read_table(write(tmp_path / name, content))
    assert table.delimiter == delimiter
    messages = messages_of(table)
    assert messages.texts == ["hello, friend", "win now"]
    assert messages.labels == ["ham", "spam"]


def test_json_lines_and_json_arrays(tmp_path: Path) -> None:
    lines = ('{"message": "hi there", "label": "ham", "ts": "2024-05-01T10:00:00Z"}\n\n'
             '{"message": "free prize", "label": 1, "ts": "2024-05-01T12:30:00+02:00"}\n')
    messages = messages_of(read_table(write(tmp_path / "m.jsonl", lines)))
    assert messages.texts == ["hi there", "free prize"]
    assert messages.labels == ["ham", "spam"]
    assert messages.timestamps == [datetime(2024, 5, 1, 10), datetime(2024, 5, 1, 10, 30)]
    array = '[{"text": "a"}, {"text": "b"}]'
    assert read_messages(write(tmp_path / "m.json", array)) == ["a", "b"]
    bad = write(tmp_path / "bad.jsonl", '{"text": "a"}\n{"text": \n')
    with pytest.raises(InvalidInput, match=r"bad.jsonl line 2: not valid JSON"):
        read_table(bad)


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    pd.DataFrame({"sms": ["one", "", "two"], "is_spam": [0, 1, 1],
                  "received_at": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00",
                                                 "2024-01-02 09:00"])}).to_parquet(path)
    messages = messages_of(read_table(path))
    assert messages.format == "parquet" and messages.texts == ["one", "two"]
    assert messages.labels == ["ham", "spam"] and messages.blank_dropped == 1
    assert messages.timestamps == [datetime(2024, 1, 1, 10), datetime(2024, 1, 2, 9)]
    write(tmp_path / "broken.parquet", b"PAR1 not really")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        read_table(tmp_path / "broken.parquet")


def test_plain_text_and_uci(tmp_path: Path) -> None:
    plain = write(tmp_path / "p.txt", "one message\n\nanother, with a comma\n")
    table = read_table(plain)
    assert table.format == "text"
    assert messages_of(table).texts == ["one message", "another, with a comma"]
    uci = read_table(write(tmp_path / "SMSSpamCollection",
                           "ham\tGo until jurong point\nSPAM\tFree entry in 2 a wkly comp\n"))
    assert uci.format == "uci"
    assert messages_of(uci).labels == ["ham", "spam"]


@pytest.mark.parametrize(("raw", "problem"), [
    (b"text\nfine caf\xc3\xa9\nbroken \x81 byte\n", "byte 23 (0x81) is valid in neither"),
    (b"text\nhello\x00world\n", "byte 10 (0x00) is NUL"),
    (b"\xef\xbb\xbftext\nbad \xff\n", "byte 12 (0xFF) is not valid UTF-8"),
    # Any 8-bit code page "reads" noise: a guess with no language behind it is refused.
    (b"text\nhello there\n\xff\xfe bad \x81\x8d bytes\n",
     "byte 17 (0xFF) is not valid UTF-8, and no encoding reads the file as a recognisable"),
])
def test_undecodable_bytes_name_the_file_and_offset(tmp_path: Path, raw: bytes,
                                                    problem: str) -> None:
    path = write(tmp_path / "bad.csv", raw)
    with pytest.raises(InvalidInput, match=re.escape(problem)) as caught:
        read_table(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert "--encoding" in str(caught.value)


def test_a_code_page_with_a_recognisable_language_is_detected(tmp_path: Path) -> None:
    russian = "text\nпривет как дела, это сообщение\nвыиграй приз сейчас\n"
    table = read_table(write(tmp_path / "ru.csv", russian.encode("cp1251")))
    assert table.encoding.startswith("cp1251")
    assert messages_of(table).texts[1] == "выиграй приз сейчас"


def test_encoding_option_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "text\nna\u00efve caf\u00e9\n".encode("latin-1"))
    table = read_table(path, encoding="latin-1")
    assert table.encoding == "latin-1"
    assert messages_of(table).texts == ["na\u00efve caf\u00e9"]
    with pytest.raises(InvalidInput, match=r"byte 7 \(0xEF\) is not valid utf-8"):
        read_table(path, encoding="utf-8")
    with pytest.raises(InvalidInput, match="unknown encoding"):
        read_table(path, encoding="klingon")


def test_utf8_file_with_a_few_stray_cp1252_bytes_is_read_and_reported(tmp_path: Path) -> None:
    raw = "text\ncaf\u00e9 au lait\nna\u00efve\n".encode() + b"price \x80 5\n"
    table = read_table(write(tmp_path / "mixed.csv", raw))
    assert table.encoding.startswith("utf-8 (1 stray bytes read as cp1252, first at byte")
    assert messages_of(table).texts[-1] == "price \u20ac 5"


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "excel.txt", "label\ttext\nham\thi\nspam\twin\n".encode("utf-16"))
    table = read_table(path)
    assert table.encoding == "utf-16" and messages_of(table).texts == ["hi", "win"]


def test_label_variants_and_label_map(tmp_path: Path) -> None:
    raw = "label,text\nHAM,a\nSpam,b\nSmishing,c\n0,d\n1.0,e\npromo,f\npromo,g\n,h\n"
    table = read_table(write(tmp_path / "l.csv", raw))
    with pytest.raises(InvalidInput) as caught:
        messages_of(table)
    message = str(caught.value)
    assert "'promo' (2), '(blank)' (1)" in message and "line 7" in message
    assert "--label-map promo=spam" in message
    mapped = messages_of(table, label_map=parse_label_map("promo=ham"), allow_unlabelled=True)
    assert mapped.labels == ["ham", "spam", "spam", "ham", "spam", "ham", "ham", None]
    with pytest.raises(InvalidInput, match="must look like FROM=ham"):
        parse_label_map("promo=maybe")


def test_columns_given_found_or_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id,body,verdict\n1,hello,spam\n")
    table = read_table(path)
    messages = messages_of(table, label_column="VERDICT")
    assert (messages.text_column, messages.label_column) == ("body", "verdict")
    with pytest.raises(InvalidInput, match=r"has no column `nope` \(given by --text-column\); "
                                           r"its columns are `id`, `body`, `verdict`"):
        messages_of(table, text_column="nope")
    other = read_table(write(tmp_path / "x.csv", "a,b\n1,2\n"))
    with pytest.raises(InvalidInput, match=r"has no text column .* pass --text-column NAME"):
        messages_of(other)


def test_too_many_fields_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", "label,text\nham,fine\nspam,too,many\n")
    with pytest.raises(InvalidInput, match=r"f.csv line 3: 3 fields where the header has 2"):
        read_table(path)


def test_bad_timestamp_names_its_line(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "t.csv", "ts,text\n2024-01-01 10:00,a\nsoon,b\n"))
    with pytest.raises(InvalidInput, match=r"t.csv line 3: `ts` value 'soon' is not a time"):
        messages_of(table, timestamps="required")


def test_epoch_seconds_are_times(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "e.csv", "timestamp,text\n1714557600,a\n"))
    assert messages_of(table).timestamps == [datetime(2024, 5, 1, 10)]


@pytest.mark.parametrize(("content", "problem"), [
    (None, "file not found"),
    ("", "has no messages"),
    ("text\n\n  \n", "has no messages"),
])
def test_empty_or_missing(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "e.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInput, match=problem):
        messages_of(read_table(path))


def test_the_real_mishra_soni_file() -> None:
    if not REAL_MISHRA.exists():
        pytest.skip(f"{REAL_MISHRA} is absent (it is never committed): nothing to read")
    table = read_table(REAL_MISHRA)
    assert table.format == "csv" and table.encoding.startswith("utf-8")
    messages = messages_of(table)
    assert (messages.text_column, messages.label_column) == ("TEXT", "label")
    assert len(messages.texts) == 5971 and messages.blank_dropped == 0
    assert messages.label_counts["Smishing"] > 500 and messages.label_counts["smishing"] > 0
    assert messages.labels is not None and set(messages.labels) == {"ham", "spam"}
    spam = sum(label == "spam" for label in messages.labels)
    assert spam == sum(n for k, n in messages.label_counts.items() if k.lower() != "ham")
