"""Mapping the labels people write (``Smishing``, ``1``, ``SPAM``) to ``ham``/``spam``.

Owns the built-in aliases, the ``--label-map`` syntax (``smishing=spam,promo=ham``), the
error that lists every label that could not be mapped with its count, and turning a parsed
label file (``prediction_id,label`` or ``text,label``) into ``LabelItem``s. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine.errors import InvalidInput

if TYPE_CHECKING:
    from engine.files import Table
    from engine.records import LabelItem

HAM = "ham"
SPAM = "spam"
ALIASES: dict[str, str] = {
    "ham": HAM, "0": HAM, "legit": HAM, "legitimate": HAM, "not spam": HAM, "normal": HAM,
    "spam": SPAM, "1": SPAM, "smishing": SPAM, "phishing": SPAM, "scam": SPAM,
}
"""Built-in label aliases (case-insensitive); ``--label-map`` adds to and overrides them."""


def parse_label_map(spec: str | None) -> dict[str, str]:
    """``"smishing=spam,promo=ham"`` -> ``{"smishing": "spam", "promo": "ham"}``.

    Raises:
        InvalidInput: an entry is not ``FROM=ham`` or ``FROM=spam``.
    """
    mapping: dict[str, str] = {}
    for entry in (spec or "").split(","):
        if not entry.strip():
            continue
        source, sep, target = entry.partition("=")
        target = target.strip().lower()
        if not sep or not source.strip() or target not in (HAM, SPAM):
            raise InvalidInput(f"--label-map entry {entry.strip()!r} must look like "
                               "FROM=ham or FROM=spam (e.g. smishing=spam,promo=ham)")
        mapping[source.strip().lower()] = target
    return mapping


def _key(value: str) -> str:
    key = value.strip().lower()
    if key.endswith(".0") and key[:-2].isdigit():  # 1.0 from a float column
        key = key[:-2]
    return key


def normalise_labels(values: Sequence[str], rows: Sequence[int],
                     where: Callable[[int], str], origin: str, label_map: dict[str, str],
                     *, allow_blank: bool = False) -> tuple[list[str | None], dict[str, int]]:
    """Each value as ``ham``/``spam`` (None for a blank one when ``allow_blank``).

    Args:
        rows: the data row of each value, for ``where`` (which names its line).
        origin: the file and column, for the error message.

    Returns:
        The mapped labels and the count of each original value.

    Raises:
        InvalidInput: one line listing every value that maps to neither class, with counts.
    """
    aliases = {**ALIASES, **{k.lower(): v for k, v in label_map.items()}}
    counts = Counter(v.strip() for v in values)
    unknown: Counter[str] = Counter()
    first_bad: int | None = None
    out: list[str | None] = []
    for position, value in enumerate(values):
        key = _key(value)
        if not key and allow_blank:
            out.append(None)
            continue
        label = aliases.get(key)
        if label is None:
            unknown[value.strip() or "(blank)"] += 1
            if first_bad is None:
                first_bad = position
        out.append(label)
    if unknown:
        listed = ", ".join(f"{v!r} ({n})" for v, n in unknown.most_common(10))
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        assert first_bad is not None
        example = next(iter(unknown))
        hint = ("fill in or drop the blank labels" if example == "(blank)" else
                f"map them with --label-map {example.lower()}=spam (or =ham)")
        raise InvalidInput(f"{origin} has labels that are neither ham nor spam: {listed}{more} "
                           f"(first at {where(rows[first_bad])}); {hint}")
    return out, dict(counts)


PREDICTION_ID_COLUMNS = ("prediction_id", "predictionid", "prediction", "id")
"""Column names taken as the prediction id of a label file, in this order (case-insensitive)."""


def label_items(table: Table, *, id_column: str | None = None, text_column: str | None = None,
                label_column: str | None = None,
                label_map: dict[str, str] | None = None) -> list[LabelItem]:
    """The labels of a label file: ``prediction_id,label`` or ``text,label`` rows.

    Raises:
        InvalidInput: no label column, no id or text column, labels that cannot be mapped,
            or rows with neither an id nor a text (listed by line).
    """
    from engine.files import TEXT_COLUMNS, find_column
    from engine.records import LabelItem

    label_col = find_column(table, label_column, ("label", "true_label", "labels", "class",
                                                  "v1", "spam", "is_spam"),
                            "label", "--label-column", required=True)
    id_col = find_column(table, id_column, PREDICTION_ID_COLUMNS, "prediction id",
                         "--id-column", required=False) if text_column is None else None
    text_col = None
    if id_col is None:
        text_col = find_column(table, text_column, TEXT_COLUMNS, "prediction id or text",
                               "--id-column or --text-column", required=True)
    assert label_col is not None

    def column(name: str | None) -> list[str]:
        if name is None:
            return [""] * len(table.frame)
        return ["" if v is None or (isinstance(v, float) and v != v) else str(v)
                for v in table.frame[name].tolist()]

    ids, texts, raw_labels = column(id_col), column(text_col), column(label_col)
    rows = [i for i in range(len(raw_labels))
            if ids[i].strip() or texts[i].strip() or raw_labels[i].strip()]
    empty = [table.where(i) for i in rows if not (ids[i].strip() or texts[i].strip())]
    if empty:
        what = f"`{id_col}`" if id_col else f"`{text_col}`"
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10
                                         else "")
        raise InvalidInput(f"{table.path}: {what} is blank at {shown}; nothing recorded")
    labels, _ = normalise_labels([raw_labels[i] for i in rows], rows, table.where,
                                 f"{table.path} column `{label_col}`", label_map or {})
    return [LabelItem(line=table.where(i), label=str(label),
                      prediction_id=ids[i].strip() if id_col else None,
                      text=texts[i].strip() if text_col else None)
            for i, label in zip(rows, labels, strict=True)]
