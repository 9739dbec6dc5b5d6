"""New patterns: the terms a drifted window over-uses, named as scams carry them.

Owns the *explanation* of drift (``new_patterns``), never the decision. A term is a word, or one
of three things scam messages carry that a word tokenizer would cut into fragments (issue 13,
item 7: ``bit.ly/ab12`` used to appear as ``ab00``):

- a **link domain**: ``bit.ly``, ``parcel-track.xyz`` (the host of a URL, lower-cased, without
  ``www.``; the path is dropped because it is random per message);
- a **phone-number shape**: ``phone +00 0000 000000`` (seven or more digits in a row, spaces and
  dashes kept, every digit folded to ``0``; the shape is what a campaign shares);
- a **money amount shape**: ``£000``, ``$0,000.00`` (currency symbol or code with the digits
  folded to ``0``).

Words are then taken from what is left of the message, digits folded to ``0`` like
``statistics.tokenize``. Nothing here knows a scam vocabulary: the patterns are shapes, and
which ones are over-represented is decided by Dunning's G² keyness
(https://aclanthology.org/J93-1003/) against the reference.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from engine.drift.statistics import tokenize
from engine.records import PatternCount

MAX_PATTERNS = 10
"""Most new patterns reported."""
PATTERN_MIN_RATIO = 3.0
"""A new pattern is at least this many times more frequent in the window than in the reference."""
PATTERN_MIN_G2 = 15.13
"""G² keyness a new pattern needs (chi-square, 1 df, p < 1e-4)."""

# Common top-level domains, so a bare ``name.tld`` counts as a link while ``ok.see`` (a missing
# space, frequent in SMS) does not. Links with a scheme, ``www.`` or a path need no list.
_TLDS = frozenset((
    "com", "net", "org", "info", "biz", "io", "co", "me", "ly", "uk", "us", "eu", "de", "fr",
    "es", "it", "nl", "ru", "cn", "in", "au", "ca", "xyz", "top", "online", "site", "live",
    "club", "app", "shop", "store", "click", "link", "icu", "vip", "help", "digital", "cc", "tk",
    "ml", "ga", "cf", "gq", "pw", "ws", "tv", "fm", "gl", "gov", "edu", "mobi", "tel", "pro",
    "win", "bid", "loan", "work", "email", "support", "services", "page", "world", "today"))
_HOST = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}"
_URL = re.compile(
    rf"(?P<scheme>https?://|www\.)?(?P<host>{_HOST})(?::\d+)?(?P<path>/[^\s]*)?",
    re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w£$€])\+?\d(?:[ \-]?\d){6,}(?![\w])")
_MONEY = re.compile(
    r"(?:[£$€]\s?\d[\d,]*(?:\.\d+)?[km]?|\d[\d,]*(?:\.\d+)?\s?(?:usd|gbp|eur|pounds|dollars)\b)",
    re.IGNORECASE)
_DIGIT = re.compile(r"\d")


def _link_host(match: re.Match[str]) -> str | None:
    host = match.group("host").lower()
    if host.startswith("www."):
        host = host[4:]
    tld = host.rsplit(".", 1)[-1]
    linked = bool(match.group("scheme") or match.group("path")) or tld in _TLDS
    # A host must contain a letter before its last dot (rules out "1.5" and "0.99").
    if linked and re.search(r"[a-z]", host.rsplit(".", 1)[0]):
        return host
    return None


def pattern_terms(text: str) -> set[str]:
    """The distinct pattern terms of one message: links, phone and money shapes, then words.

    >>> sorted(pattern_terms("Parcel held, pay £2.99 at https://bit.ly/ab12 or call 07123 456789"))
    ['at', 'bit.ly', 'call', 'held', 'or', 'parcel', 'pay', 'phone 00000 000000', '£0.00']
    """
    lowered = text.lower().replace("’", "'")
    terms: set[str] = set()
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(lowered):
        host = _link_host(match)
        if host is not None:
            terms.add(host)
            spans.append(match.span())
    rest = _blank(lowered, spans)
    spans = []
    for match in _MONEY.finditer(rest):
        terms.add(_DIGIT.sub("0", match.group(0).replace(" ", "")))
        spans.append(match.span())
    rest = _blank(rest, spans)
    spans = []
    for match in _PHONE.finditer(rest):
        terms.add("phone " + _DIGIT.sub("0", match.group(0).replace("-", " ")))
        spans.append(match.span())
    rest = _blank(rest, spans)
    terms.update(tokenize(rest))
    return terms


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span replaced by a space (so what is left stays separate words)."""
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(" ")
        last = end
    out.append(text[last:])
    return "".join(out)


def document_frequencies(texts: Iterable[str]) -> Counter[str]:
    """How many of ``texts`` contain each pattern term."""
    df: Counter[str] = Counter()
    for text in texts:
        df.update(pattern_terms(text))
    return df


def _is_shape(term: str) -> bool:
    return term.startswith("phone ") or "." in term or term[:1] in "£$€" or "0" in term


def new_patterns(window_texts: list[str], reference_df: dict[str, int],
                 reference_docs: int) -> tuple[PatternCount, ...]:
    """Terms at least ``PATTERN_MIN_RATIO`` times more frequent than in the reference, by G².

    A term must appear in at least ``max(3, 0.2% of n)`` window messages and, when it is a
    plain word, be at least 3 characters long and not a bare number.
    """
    n = len(window_texts)
    df = document_frequencies(window_texts)
    min_count = max(3, math.ceil(0.002 * n))
    found: list[tuple[float, PatternCount]] = []
    for term, count in df.items():
        if count < min_count:
            continue
        if not _is_shape(term) and (len(term) < 3 or term.isdigit()):
            continue
        if term.strip("0").strip() == "":
            continue
        ref_count = reference_df.get(term, 0)
        window_rate = count / n
        if window_rate < PATTERN_MIN_RATIO * (ref_count + 0.5) / (reference_docs + 1):
            continue
        g2 = g_squared(count, n, ref_count, reference_docs)
        if g2 < PATTERN_MIN_G2:
            continue
        found.append((g2, PatternCount(term=term, count=count, window_rate=window_rate,
                                       reference_rate=ref_count / reference_docs)))
    found.sort(key=lambda item: (-item[0], item[1].term))
    return tuple(pattern for _, pattern in found[:MAX_PATTERNS])


def g_squared(a: int, n_a: int, b: int, n_b: int) -> float:
    """Dunning's log-likelihood ratio for a term in ``a`` of ``n_a`` vs ``b`` of ``n_b`` docs."""
    total = n_a + n_b
    k = a + b
    g2 = 0.0
    for observed, expected in ((a, n_a * k / total), (b, n_b * k / total),
                               (n_a - a, n_a * (total - k) / total),
                               (n_b - b, n_b * (total - k) / total)):
        if observed > 0 and expected > 0:
            g2 += observed * math.log(observed / expected)
    return 2.0 * g2
