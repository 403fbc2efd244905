"""Reading uploaded CSV files: their encoding, their delimiter, and their rows as a stream.

UTF-8 (with or without a byte-order mark) is recognised by decoding the whole file once, in
chunks; anything that is not valid UTF-8 is read as Windows-1252 (Latin-1 for the five bytes
Windows-1252 leaves undefined). The delimiter is the one of `,` `;` tab `|` that splits the
header into most columns while splitting most of the first lines alike.
"""

import codecs
import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
csv.field_size_limit(1024 * 1024)  # one quoted field may hold a long note, not a whole file


class UnreadableFile(ValueError):
    """The file is empty, binary, or has no header row."""


def detect_encoding(raw: BinaryIO) -> str:
    """'utf-8-sig', 'utf-8', 'utf-16', 'cp1252' or 'latin-1'; rewinds `raw`."""
    raw.seek(0)
    start = raw.read(4)
    raw.seek(0)
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in start:
        raise UnreadableFile("the file looks binary, not like CSV text")
    encoding = "utf-8" if _decodes(raw, "utf-8") else "cp1252"
    if encoding == "cp1252" and not _decodes(raw, "cp1252"):
        encoding = "latin-1"
    raw.seek(0)
    return encoding


def _decodes(raw: BinaryIO, encoding: str) -> bool:
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := raw.read(CHUNK_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_delimiter(sample: str) -> str:
    """The delimiter that splits the header into most columns, among those that split most of
    the first lines like the header (a bad row or two does not change it); else ','."""
    lines = sample.splitlines()[:20]
    if len(lines) > 1 and len(sample) >= SAMPLE_BYTES:
        lines = lines[:-1]  # the sample may end mid-line
    best, best_score = ",", (0, 1)
    for delimiter in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        alike = sum(count == counts[0] for count in counts)
        score = (alike * 2 >= len(counts), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def text_stream(raw: BinaryIO, encoding: str) -> io.TextIOWrapper:
    """`raw` decoded, newlines left to the csv module (quoted newlines stay in their field)."""
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")


def sniff(raw: BinaryIO) -> tuple[str, str, list[str]]:
    """(encoding, delimiter, header) of a CSV file; raises UnreadableFile."""
    encoding = detect_encoding(raw)
    stream = text_stream(raw, encoding)
    try:
        sample = stream.read(SAMPLE_BYTES)
        delimiter = detect_delimiter(sample)
        stream.seek(0)
        header = next(csv.reader(stream, delimiter=delimiter), None)
    finally:
        stream.detach()
    if not header or not any(cell.strip() for cell in header):
        raise UnreadableFile("the file has no header row")
    return encoding, delimiter, [cell.replace("\x00", "").strip() for cell in header]


def rows(stream: io.TextIOWrapper, delimiter: str) -> Iterator[list[str]]:
    """The rows after the header; blank lines are left out."""
    reader = csv.reader(stream, delimiter=delimiter)
    next(reader, None)
    for row in reader:
        if row and any(row):
            yield row
