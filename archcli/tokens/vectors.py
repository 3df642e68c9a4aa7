"""Static word vectors: a float table and the map from string hash to row."""
import gzip
from pathlib import Path
from typing import Dict, Iterable, Optional, Union

import numpy

from ..errors import ArchcliError
from .strings import StringStore


class Vectors:
    """A (n_rows, width) float32 table keyed by string hash. Unknown keys find row -1."""

    def __init__(self, data: Optional[numpy.ndarray] = None, keys: Iterable[int] = (), name: str = "") -> None:
        self.data = numpy.zeros((0, 0), dtype="float32") if data is None else data
        self.key2row: Dict[int, int] = {int(key): row for row, key in enumerate(keys)}
        self.name = name

    @property
    def shape(self):
        return self.data.shape

    def __len__(self) -> int:
        return self.data.shape[0]

    def find(self, key: int) -> int:
        return self.key2row.get(int(key), -1)

    def to_disk(self, path: Union[str, Path]) -> None:
        keys = numpy.zeros((len(self.key2row),), dtype="uint64")
        rows = numpy.zeros((len(self.key2row),), dtype="int64")
        for i, (key, row) in enumerate(self.key2row.items()):
            keys[i] = key
            rows[i] = row
        with open(path, "wb") as file_:
            numpy.savez(file_, data=self.data, keys=keys, rows=rows)

    @classmethod
    def from_disk(cls, path: Union[str, Path], name: str = "") -> "Vectors":
        stored = numpy.load(path)
        vectors = cls(stored["data"], name=name)
        vectors.key2row = {int(k): int(r) for k, r in zip(stored["keys"], stored["rows"])}
        return vectors


def read_word2vec_text(path: Union[str, Path], strings: StringStore) -> Vectors:
    """Read a word2vec/fastText `.vec` text file (optionally gzipped) into a Vectors table.

    The first line may be a `n_rows width` header; without one the width comes from the
    first vector line. Every malformed line is reported with its number.
    """
    path = Path(path)
    if not path.exists():
        raise ArchcliError("vectors file not found", where=str(path))
    opener = gzip.open if path.suffix == ".gz" else open
    keys = []
    rows = []
    width = None
    try:
        with opener(path, "rt", encoding="utf8") as file_:
            for line_no, line in enumerate(file_, start=1):
                pieces = line.rstrip("\n").rstrip(" ").split(" ")
                if line_no == 1 and len(pieces) == 2 and all(p.isdigit() for p in pieces):
                    width = int(pieces[1])
                    continue
                if len(pieces) < 2:
                    continue
                if width is None:
                    width = len(pieces) - 1
                if len(pieces) - 1 != width:
                    raise ArchcliError(
                        f"expected {width} numbers after the word, found {len(pieces) - 1}",
                        where=f"{path}:{line_no}",
                    )
                try:
                    rows.append(numpy.asarray(pieces[1:], dtype="float32"))
                except ValueError:
                    raise ArchcliError("vector values are not numbers", where=f"{path}:{line_no}")
                keys.append(strings.add(pieces[0]))
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise ArchcliError(f"cannot read vectors file: {err}", where=str(path))
    if not rows:
        raise ArchcliError("vectors file holds no vectors", where=str(path))
    data = numpy.vstack(rows)
    # Keep the first occurrence of a duplicated word, as fastText readers do.
    key2row: Dict[int, int] = {}
    for row, key in enumerate(keys):
        key2row.setdefault(key, row)
    vectors = Vectors(data, name=path.name)
    vectors.key2row = key2row
    return vectors
