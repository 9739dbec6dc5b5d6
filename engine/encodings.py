"""Decoding the bytes of a message file: which encoding, and saying so.

Owns one function, ``decode``. The rules, in order:

1. ``--encoding NAME`` given: decode strictly with it (a UTF-8 BOM is dropped).
2. A byte-order mark: UTF-8 (``utf-8 with BOM``) or UTF-16.
3. Valid UTF-8: ``utf-8``.
4. UTF-8 with a few stray single bytes (files edited with two tools, such as the published
   Mishra & Soni smishing set): each stray byte is read as cp1252, counted and reported with
   the offset of the first.
5. Otherwise the encoding is detected with charset-normalizer (cp1252 preferred among equally
   good Western guesses, since charset-normalizer ranks cp1250 first on short English files)
   and reported as ``<name> (detected)``.

Bytes that none of these can read (a NUL, a byte undefined in cp1252, no plausible encoding)
are one ``InvalidInput`` line naming the file and the byte offset. This module decodes and
nothing else.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from engine.errors import InvalidInput

_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}"
                             rb"|[\xf0-\xf4][\x80-\xbf]{3}")
_WESTERN = ("cp1252", "latin_1", "iso8859_15", "cp1250", "iso8859_2", "cp1257", "iso8859_4",
            "iso8859_9", "cp1254", "mac_roman", "cp850", "cp775", "cp437")
"""Encodings that read the same English text the same way; cp1252 is preferred among them."""
_MIXED_MIN_SHARE = 0.5
"""A file counts as UTF-8 with stray bytes when valid multi-byte UTF-8 sequences are at least
this share of its non-ASCII sequences."""


def _hint(path: Path, offset: int, byte: int, what: str) -> InvalidInput:
    return InvalidInput(f"{path}: byte {offset} (0x{byte:02X}) {what}; save the file as UTF-8 "
                        "or pass --encoding NAME (e.g. cp1252, latin-1)")


def decode(data: bytes, path: Path, encoding: str | None = None) -> tuple[str, str]:
    """The text of ``data`` and how it was decoded (see the module docstring).

    Raises:
        InvalidInput: unknown ``encoding``, or bytes that cannot be read, with the offset.
    """
    if encoding:
        try:
            codec = codecs.lookup(encoding)
        except LookupError:
            raise InvalidInput(f"unknown encoding {encoding!r} (try utf-8, cp1252, latin-1, "
                               "utf-16)") from None
        if codec.name == "utf-8" and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        try:
            return data.decode(codec.name), encoding
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{path}: byte {exc.start} (0x{data[exc.start]:02X}) is not "
                               f"valid {encoding}; pass the file's real --encoding") from None
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8):]
        try:
            return body.decode("utf-8"), "utf-8 with BOM"
        except UnicodeDecodeError as exc:
            offset = exc.start + len(codecs.BOM_UTF8)
            raise _hint(path, offset, data[offset], "is not valid UTF-8 although the file "
                        "starts with a UTF-8 byte-order mark") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise _hint(path, exc.start, data[exc.start], "is not valid UTF-16") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        first = exc.start
    else:
        nul = text.find("\x00")
        if nul >= 0:
            offset = len(text[:nul].encode("utf-8"))
            raise _hint(path, offset, 0, "is NUL: this looks like a binary file, not text")
        return text, "utf-8"
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise _hint(path, offset, 0, "is NUL: this looks like a binary file, not text")
    valid = len(_UTF8_MULTIBYTE.findall(data))
    high = sum(1 for b in data if b >= 0x80)
    stray = high - sum(len(m) for m in _UTF8_MULTIBYTE.findall(data))
    if valid and valid >= _MIXED_MIN_SHARE * (valid + stray):
        return _utf8_with_strays(data, path, first)
    return _detected(data, path, first)


def _utf8_with_strays(data: bytes, path: Path, first: int) -> tuple[str, str]:
    """UTF-8 where each invalid byte is read as cp1252 (counted)."""
    strays = 0

    def handler(exc: UnicodeError) -> tuple[str, int]:
        nonlocal strays
        assert isinstance(exc, UnicodeDecodeError)
        byte = exc.object[exc.start:exc.start + 1]
        try:
            char = byte.decode("cp1252")
        except UnicodeDecodeError:
            raise _hint(path, exc.start, byte[0], "is valid in neither UTF-8 nor cp1252") from None
        strays += 1
        return char, exc.start + 1

    name = f"spamops-strays-{id(handler)}"
    codecs.register_error(name, handler)
    text = data.decode("utf-8", errors=name)
    return text, f"utf-8 ({strays} stray bytes read as cp1252, first at byte {first})"


def _detected(data: bytes, path: Path, first: int) -> tuple[str, str]:
    """Decode with the encoding charset-normalizer finds most plausible."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise _hint(path, first, data[first], "is not valid UTF-8 and no other encoding "
                    "reads the file cleanly")
    best = matches[0]
    names = [m.encoding for m in matches if m.chaos <= best.chaos + 0.01]
    chosen = best.encoding
    if chosen in _WESTERN or any(n in _WESTERN for n in names[:3]):
        try:
            return data.decode("cp1252"), "cp1252 (detected)"
        except UnicodeDecodeError as exc:
            raise _hint(path, exc.start, data[exc.start], "is not valid UTF-8 and undefined "
                        "in cp1252, the detected encoding") from None
    if best.coherence <= 0:
        # Any 8-bit code page decodes any bytes: without a language recognised in the text
        # (charset-normalizer's coherence), a guess such as mac_iceland is noise, not a finding.
        raise _hint(path, first, data[first], "is not valid UTF-8, and no encoding reads the "
                    "file as a recognisable language")
    try:
        return data.decode(chosen), f"{chosen} (detected)"
    except UnicodeDecodeError as exc:
        raise _hint(path, exc.start, data[exc.start], f"is not valid {chosen}") from None
