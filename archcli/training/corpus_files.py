"""Finding and reading corpus files: shared by every reader, so each names the file and line.

Text corpora are read as UTF-8, one line at a time, so undecodable bytes are reported with
their line; a UTF-8 byte-order mark at the start of a file is dropped, as editors write one.
"""
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Tuple, Union

import srsly

from ..errors import CorpusError

_BOM = "\ufeff"


def walk_corpus(path: Union[str, Path, None], suffixes: Iterable[str]) -> List[Path]:
    """The corpus files at `path`: the file itself, or matching files under a directory."""
    if path is None:
        raise CorpusError("no corpus path given (is paths.train / paths.dev set?)")
    path = Path(path)
    if not path.exists():
        raise CorpusError("corpus path does not exist", where=str(path))
    if path.is_file():
        return [path]
    suffixes = tuple(suffixes)
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes) and not p.name.startswith("."))
    if not found:
        raise CorpusError(f"directory holds no {'/'.join(suffixes)} files", where=str(path))
    return found


def read_lines(path: Union[str, Path]) -> Iterator[Tuple[int, str]]:
    """(line number, line without its line ending) for each line of a UTF-8 text file.

    Lines end at \n, \r\n or a bare \r, as in text mode. The file is read as bytes and decoded
    a line at a time, so a file that cannot be opened, or a line that is not UTF-8, is a
    CorpusError naming the file (and the line and column).
    """
    try:
        file_ = open(path, "rb")
    except OSError as err:
        raise CorpusError(f"cannot open corpus file: {err.strerror}", where=str(path)) from None
    with file_:
        line_no = 0
        for chunk in file_:
            # bytes.splitlines splits on \n, \r\n and bare \r: Python's universal newlines, as in text mode.
            for raw in chunk.splitlines():
                line_no += 1
                try:
                    line = raw.decode("utf8")
                except UnicodeDecodeError as err:
                    raise CorpusError(
                        f"not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                        "is this a binary file?",
                        where=f"{path}:{line_no}",
                    ) from None
                if line_no == 1 and line.startswith(_BOM):
                    line = line[1:]
                yield line_no, line


def read_jsonl_records(path: Union[str, Path]) -> Iterator[Tuple[int, Any, str]]:
    """(line number, decoded value, "") or (line number, None, why it is not JSON) per non-blank line.

    Blank lines are skipped, as srsly.read_jsonl (spaCy) skips them.
    """
    for line_no, line in read_lines(path):
        if not line.strip():
            continue
        try:
            yield line_no, srsly.json_loads(line), ""
        except ValueError as err:
            yield line_no, None, f"not valid JSON ({err})"


def read_jsonl_objects(path: Union[str, Path]) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(line number, object) per non-blank line; a line that is not a JSON object is an error."""
    for line_no, record, error in read_jsonl_records(path):
        if error:
            raise CorpusError(error, where=f"{path}:{line_no}")
        if not isinstance(record, dict):
            raise CorpusError("each line must be a JSON object", where=f"{path}:{line_no}")
        yield line_no, record
