"""The knowledge base (KB) an entity linker looks candidates up in: entities, aliases, priors.

Everything is held in flat arrays, so a KB of a million entities saves and loads as a handful
of numpy arrays: entity ids and aliases as one UTF-8 blob plus offsets each, frequencies, an
(n_entities, width) vector table, and each alias's candidates as CSR rows plus priors. Lookups
by string go through a sorted table of 64-bit hashes (built vectorised when a KB is loaded,
verified against the stored bytes) plus a dict of the strings added since, so a loaded KB holds
no Python object per entity or alias.
"""
import array
import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy

from ..errors import ArchcliError, ModelDirError
from ..fileio import atomic_dir, read_json
from ..tokens.strings import hash_string

FORMAT_NAME = "archcli-kb"
FORMAT_VERSION = 1
META_FILE = "kb.json"
ARRAYS_FILE = "kb.npz"
# add_alias/append_alias accept priors summing to at most 1 plus this (rounding in the input).
PRIOR_SUM_TOLERANCE = 1e-6

PathLike = Union[str, Path]

# Strings are hashed for the index in chunks of about this many bytes (bounds the temporaries).
_HASH_CHUNK_BYTES = 1 << 22


# --- string hashing for the lookup index ----------------------------------------------------
# Not MurmurHash (the string store's key, see archcli.tokens.strings): the index key of a string
# is its UTF-8 bytes read as a little-endian integer v, reduced modulo two primes below 2**31,
# (v mod P1) << 32 | (v mod P2), i.e. v mod P1*P2 (about 2**62). One lookup computes it in C
# (int.from_bytes and two remainders, ~0.3 µs); indexing millions of strings computes it with a
# few numpy operations over the whole blob (sum of byte * 256**i mod P). Collisions are
# harmless: every hit is checked against the stored bytes.
_P1 = 2**31 - 1
_P2 = 2**31 - 19
_powers = {_P1: numpy.ones((1,), dtype="int64"), _P2: numpy.ones((1,), dtype="int64")}


def _hash_one(data: bytes) -> int:
    """Index key of one UTF-8 string (equals `_hash_blob` on it)."""
    value = int.from_bytes(data, "little")
    return ((value % _P1) << 32) | (value % _P2)


def _powers_mod(prime: int, n: int) -> numpy.ndarray:
    """256**i mod prime for i < n (cached; grown by doubling)."""
    powers = _powers[prime]
    while powers.shape[0] < n:
        powers = numpy.concatenate([powers, (powers * pow(256, powers.shape[0], prime)) % prime])
    _powers[prime] = powers
    return powers


def _hash_blob(blob: numpy.ndarray, offsets: numpy.ndarray) -> numpy.ndarray:
    """Index key of every string in a UTF-8 blob (string i = blob[offsets[i]:offsets[i+1]])."""
    n = offsets.shape[0] - 1
    out = numpy.empty((n,), dtype="uint64")
    start = 0
    while start < n:
        # Strings [start, stop) whose bytes fit a chunk (at least one string per chunk).
        limit = offsets[start] + _HASH_CHUNK_BYTES
        stop = max(start + 1, int(numpy.searchsorted(offsets, limit, side="right")) - 1)
        stop = min(stop, n)
        out[start:stop] = _hash_chunk(blob, offsets[start : stop + 1])
        start = stop
    return out


def _hash_chunk(blob: numpy.ndarray, offsets: numpy.ndarray) -> numpy.ndarray:
    lengths = numpy.diff(offsets)
    keys = numpy.zeros((lengths.shape[0],), dtype="uint64")
    if not offsets[-1] > offsets[0]:
        return keys  # only empty strings
    starts = offsets[:-1] - offsets[0]
    data = blob[offsets[0] : offsets[-1]].astype("int64")
    # Each byte's position in its string: a running maximum over the strings' start indices.
    first = numpy.zeros((data.shape[0],), dtype="int64")
    nonempty = lengths > 0
    first[starts[nonempty]] = starts[nonempty]
    position = numpy.arange(data.shape[0], dtype="int64") - numpy.maximum.accumulate(first)
    max_length = int(lengths.max())
    for prime, shift in ((_P1, 32), (_P2, 0)):
        # byte * power < 2**39, so a chunk's sum (< 2**22 bytes) stays below 2**61.
        sums = numpy.add.reduceat(data * _powers_mod(prime, max_length)[position], starts[nonempty])
        keys[nonempty] |= (sums % prime).astype("uint64") << numpy.uint64(shift)
    return keys


def _encode(strings: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """A list of strings as (UTF-8 blob, offsets)."""
    encoded = [s.encode("utf8") for s in strings]
    offsets = numpy.zeros((len(encoded) + 1,), dtype="int64")
    numpy.cumsum(numpy.fromiter(map(len, encoded), dtype="int64", count=len(encoded)), out=offsets[1:])
    return numpy.frombuffer(b"".join(encoded), dtype="uint8"), offsets


def _gather_ranges(starts: numpy.ndarray, lengths: numpy.ndarray) -> numpy.ndarray:
    """Indices of the concatenated ranges [starts[i], starts[i] + lengths[i])."""
    total = int(lengths.sum())
    if not total:
        return numpy.zeros((0,), dtype="int64")
    ends = numpy.cumsum(lengths)
    return numpy.repeat(starts - (ends - lengths), lengths) + numpy.arange(total, dtype="int64")


# --- storage ----------------------------------------------------------------------------------
class _Column:
    """A growable 1-d (or fixed-width 2-d) column: a numpy array plus an array.array of what
    was added since it was last viewed.

    Why: adding aliases one at a time (millions of add_alias calls) costs ~0.1 µs per append
    to an array.array, about ten times less than writing into numpy; `view()` folds the added
    values into the numpy array once, when a vectorised lookup or a save needs it.
    """

    def __init__(self, typecode: str, dtype: str, width: int = 1, base: Optional[numpy.ndarray] = None) -> None:
        self.typecode = typecode
        self.dtype = numpy.dtype(dtype)
        self.width = width
        base = numpy.zeros((0,), dtype=dtype) if base is None else numpy.ascontiguousarray(base, dtype).reshape(-1)
        self._set_base(base if base.flags.writeable else base.copy())
        self.tail = array.array(typecode)

    def _set_base(self, base: numpy.ndarray) -> None:
        self.base = base
        self.n_base = base.shape[0]
        # Indexing a memoryview gives Python numbers ~5x faster than indexing the numpy array.
        self.mv = memoryview(base)

    def __len__(self) -> int:
        return (self.n_base + len(self.tail)) // self.width

    def append(self, value) -> None:
        self.tail.append(value)

    def extend(self, values) -> None:
        if isinstance(values, numpy.ndarray):
            self.tail.frombytes(numpy.ascontiguousarray(values, dtype=self.dtype).tobytes())
        elif isinstance(values, (bytes, bytearray)):
            self.tail.frombytes(values)
        else:
            self.tail.extend(values)

    def __getitem__(self, i: int):
        return self.mv[i] if i < self.n_base else self.tail[i - self.n_base]

    def __setitem__(self, i: int, value) -> None:
        if i < self.n_base:
            self.base[i] = value
        else:
            self.tail[i - self.n_base] = value

    def slice(self, start: int, stop: int) -> list:
        """Values [start, stop) as a list (rows of width values for a 2-d column)."""
        start, stop = start * self.width, stop * self.width
        n_base = self.n_base
        if stop <= n_base:
            return self.mv[start:stop].tolist()
        if start >= n_base:
            return self.tail[start - n_base : stop - n_base].tolist()
        return self.mv[start:].tolist() + self.tail[: stop - n_base].tolist()

    def row(self, i: int) -> numpy.ndarray:
        """Row i of a 2-d column, as a new array."""
        start, stop = i * self.width, (i + 1) * self.width
        if stop <= self.n_base:
            return self.base[start:stop].copy()
        return numpy.asarray(self.slice(i, i + 1), dtype=self.dtype)

    def view(self) -> numpy.ndarray:
        """All values as one numpy array (shared with the column: do not keep it across adds)."""
        if len(self.tail):
            self._set_base(numpy.concatenate([self.base, numpy.frombuffer(self.tail, dtype=self.dtype)]))
            self.tail = array.array(self.typecode)
        return self.base.reshape(-1, self.width) if self.width > 1 else self.base


class _StringTable:
    """Unique strings in add order, as a UTF-8 blob + offsets, with string -> row lookup.

    Rows present when the table was loaded are found through sorted index hashes; strings
    added afterwards through a dict (why: building a KB adds strings one by one, loading one
    must not create a Python object per string).
    """

    def __init__(self) -> None:
        self._blob = _Column("B", "uint8")
        self._offsets = _Column("q", "int64", base=numpy.zeros((1,), dtype="int64"))
        self._n = 0
        self._n_bytes = 0
        self._recent: Dict[str, int] = {}
        self._indexed = False
        self._sorted_hashes = numpy.zeros((0,), dtype="uint64")
        self._sorted_rows = numpy.zeros((0,), dtype="int64")

    def __len__(self) -> int:
        return self._n

    @classmethod
    def from_arrays(cls, blob: numpy.ndarray, offsets: numpy.ndarray) -> "_StringTable":
        """A table over stored strings (offsets already checked), indexed vectorised.

        A string stored twice is a ValueError naming it.
        """
        table = cls()
        table._blob = _Column("B", "uint8", base=blob)
        table._offsets = _Column("q", "int64", base=offsets)
        table._n_bytes = int(blob.shape[0])
        table._n = int(offsets.shape[0]) - 1
        table._indexed = table._n > 0
        hashes = _hash_blob(table._blob.base, table._offsets.base)
        order = numpy.argsort(hashes, kind="stable")
        table._sorted_hashes = hashes[order]
        table._sorted_rows = order.astype("int64")
        table._hashes_mv, table._rows_mv = memoryview(table._sorted_hashes), memoryview(table._sorted_rows)
        same = numpy.flatnonzero(table._sorted_hashes[1:] == table._sorted_hashes[:-1])
        for i in same.tolist():  # equal hashes: equal strings are a damaged file, else a collision
            first, second = table.get(int(order[i])), table.get(int(order[i + 1]))
            if first == second:
                raise ValueError(f"'{first}' is stored twice (rows {int(order[i])} and {int(order[i + 1])})")
        return table

    def arrays(self) -> Tuple[numpy.ndarray, numpy.ndarray]:
        return self._blob.view(), self._offsets.view()

    def add(self, text: str) -> int:
        """Append `text` (the caller has checked it is new); returns its row."""
        row = self._n
        data = text.encode("utf8")
        self._blob.tail.frombytes(data)
        self._n_bytes += len(data)
        self._offsets.tail.append(self._n_bytes)
        self._recent[text] = row
        self._n = row + 1
        return row

    def add_many(self, strings: Sequence[str]) -> None:
        """Append new, distinct strings in one go."""
        first = len(self)
        blob, offsets = _encode(strings)
        self._blob.extend(blob)
        self._offsets.extend(offsets[1:] + self._n_bytes)
        self._n_bytes += int(blob.shape[0])
        self._recent.update(zip(strings, range(first, first + len(strings))))
        self._n += len(strings)

    def _bytes(self, row: int) -> bytes:
        offsets, blob = self._offsets, self._blob
        if row + 1 < offsets.n_base:
            start, end = offsets.mv[row], offsets.mv[row + 1]
        else:
            start, end = offsets[row], offsets[row + 1]
        n_base = blob.n_base
        if end <= n_base:
            return blob.mv[start:end].tobytes()
        return blob.tail[start - n_base : end - n_base].tobytes()  # strings never straddle the two

    def get(self, row: int) -> str:
        return self._bytes(row).decode("utf8")

    def to_list(self) -> List[str]:
        blob_array, offsets_array = self.arrays()
        blob, offsets = blob_array.tobytes(), offsets_array.tolist()
        return [blob[a:b].decode("utf8") for a, b in zip(offsets[:-1], offsets[1:])]

    def find(self, text: str) -> int:
        """Row of `text`, or -1."""
        row = self._recent.get(text)
        if row is not None:
            return row
        if not self._indexed:
            return -1
        hashes = self._sorted_hashes
        data = text.encode("utf8")
        key = _hash_one(data)
        i = int(hashes.searchsorted(numpy.uint64(key)))  # (a Python int would convert `hashes` to float)
        n, keys, rows = hashes.shape[0], self._hashes_mv, self._rows_mv
        while i < n and keys[i] == key:
            if self._bytes(rows[i]) == data:
                return rows[i]
            i += 1
        return -1

    def find_many(self, strings: Sequence[str]) -> numpy.ndarray:
        """Row of each string (-1 where absent), the indexed part looked up vectorised."""
        strings = list(strings)
        recent = self._recent
        if recent:
            rows = numpy.fromiter((recent.get(s, -1) for s in strings), dtype="int64", count=len(strings))
        else:
            rows = numpy.full((len(strings),), -1, dtype="int64")
        if not self._indexed or not len(strings):
            return rows
        todo = numpy.flatnonzero(rows < 0)
        if not todo.shape[0]:
            return rows
        queries = [strings[i] for i in todo.tolist()]
        q_blob, q_offsets = _encode(queries)
        q_hashes = _hash_blob(q_blob, q_offsets)
        hashes = self._sorted_hashes
        pos = numpy.minimum(numpy.searchsorted(hashes, q_hashes), hashes.shape[0] - 1)
        hit = hashes[pos] == q_hashes
        found = numpy.where(hit, self._sorted_rows[pos], -1)
        # Check each hit against the stored bytes (the index holds hashes only).
        idx = numpy.flatnonzero(hit)
        if idx.shape[0]:
            blob, offsets = self.arrays()
            cand = found[idx]
            q_len = q_offsets[idx + 1] - q_offsets[idx]
            same_len = q_len == offsets[cand + 1] - offsets[cand]
            lengths = numpy.where(same_len, q_len, 0)
            equal = blob[_gather_ranges(offsets[cand], lengths)] == q_blob[_gather_ranges(q_offsets[idx], lengths)]
            mismatches = numpy.zeros((equal.shape[0] + 1,), dtype="int64")
            numpy.cumsum(~equal, out=mismatches[1:])
            ends = numpy.cumsum(lengths)
            bad = ~same_len | ((mismatches[ends] - mismatches[ends - lengths]) > 0)
            for j in idx[bad].tolist():  # a hash collision: look further along the equal hashes
                found[j] = self.find(queries[j])
        rows[todo] = found
        return rows


# --- the KB --------------------------------------------------------------------------------------
class Candidate:
    """One candidate entity for an alias, with the prior P(entity | alias), as spaCy's Candidate.

    A light view into the KB's arrays: the id string and vector are read when asked for.
    """

    __slots__ = ("kb", "entity_row", "alias_", "prior_prob")

    def __init__(self, kb: "InMemoryLookupKB", entity_row: int, alias: str, prior_prob: float) -> None:
        self.kb = kb
        self.entity_row = entity_row
        self.alias_ = alias
        self.prior_prob = prior_prob

    @property
    def entity_(self) -> str:
        return self.kb._ids.get(self.entity_row)

    @property
    def entity(self) -> int:
        """Hash of the entity id, added to the vocab's string store (as Span.label does)."""
        return self.kb.vocab.strings.add(self.entity_) if self.kb.vocab is not None else hash_string(self.entity_)

    @property
    def alias(self) -> int:
        return self.kb.vocab.strings.add(self.alias_) if self.kb.vocab is not None else hash_string(self.alias_)

    @property
    def entity_freq(self) -> float:
        return float(self.kb._freqs[self.entity_row])

    @property
    def entity_vector(self) -> numpy.ndarray:
        return self.kb._vectors.row(self.entity_row)

    def __repr__(self) -> str:
        return f"Candidate({self.entity_!r}, alias={self.alias_!r}, prior_prob={self.prior_prob:.4g})"


class KnowledgeBase:
    """What an entity linker needs from a KB: candidates for mentions, and entity vectors."""

    def __init__(self, vocab, entity_vector_length: int) -> None:
        self.vocab = vocab
        self._entity_vector_length = _check_width(entity_vector_length)

    @property
    def entity_vector_length(self) -> int:
        return self._entity_vector_length

    @property
    def supports_prior_probs(self) -> bool:
        return True

    def get_candidates(self, mention) -> List[Candidate]:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_candidates")

    def get_candidates_batch(self, mentions: Iterable) -> List[List[Candidate]]:
        return [self.get_candidates(span) for span in mentions]

    def get_vector(self, entity: str) -> numpy.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_vector")

    def get_vectors(self, entities: Iterable[str]) -> List[numpy.ndarray]:
        return [self.get_vector(entity) for entity in entities]


class InMemoryLookupKB(KnowledgeBase):
    """spaCy's InMemoryLookupKB: entities (id, frequency, vector) and aliases whose candidates
    carry prior probabilities; exact, case-sensitive alias lookup."""

    def __init__(self, vocab, entity_vector_length: int) -> None:
        super().__init__(vocab, entity_vector_length)
        self._clear_entities()
        self._clear_aliases()

    def _clear_entities(self) -> None:
        self._ids = _StringTable()
        self._freqs = _Column("f", "float32")
        self._vectors = _Column("f", "float32", width=self._entity_vector_length)

    def _clear_aliases(self) -> None:
        self._aliases = _StringTable()
        # Alias i's candidates are _cand_rows/_cand_priors[_alias_start[i] : + _alias_len[i]].
        self._alias_start = _Column("q", "int64")
        self._alias_len = _Column("q", "int64")
        self._cand_rows = _Column("q", "int64")
        self._cand_priors = _Column("f", "float32")

    # --- sizes and strings ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def is_empty(self) -> bool:
        return len(self) == 0

    def get_size_entities(self) -> int:
        return len(self._ids)

    def get_size_aliases(self) -> int:
        return len(self._aliases)

    def get_entity_strings(self) -> List[str]:
        return self._ids.to_list()

    def get_alias_strings(self) -> List[str]:
        return self._aliases.to_list()

    def contains_entity(self, entity: str) -> bool:
        return self._ids.find(entity) >= 0

    def contains_alias(self, alias: str) -> bool:
        return self._aliases.find(alias) >= 0

    # --- adding ------------------------------------------------------------------------------
    def add_entity(self, entity: str, freq: float, entity_vector) -> int:
        """Add an entity; returns its row. An id already present warns and keeps the first."""
        if not isinstance(entity, str) or not entity:
            raise ArchcliError(f"entity ids must be non-empty strings, got {entity!r}")
        row = self._ids.find(entity)
        if row >= 0:
            warnings.warn(f"entity '{entity}' is already in the KB; keeping its first entry", stacklevel=2)
            return row
        vector = numpy.asarray(entity_vector, dtype="float32")
        if vector.shape != (self._entity_vector_length,):
            raise ArchcliError(f"entity '{entity}' has a vector of shape {vector.shape}; this KB's "
                               f"entity_vector_length is {self._entity_vector_length}")
        self._vectors.extend(vector)
        self._freqs.append(float(freq))
        return self._ids.add(entity)

    def set_entities(self, entity_list: Sequence[str], freq_list: Sequence[float], vector_list) -> None:
        """Replace all entities at once (vectorised; `vector_list` may be an (n, width) array).

        As in spaCy, a repeated id warns and its first entry is kept. Aliases refer to entity
        rows, so this refuses a KB that already has aliases.
        """
        if self.get_size_aliases():
            raise ArchcliError("set_entities replaces every entity, but this KB already has aliases that refer "
                               "to them; call set_entities before add_alias")
        entity_list = list(entity_list)
        n = len(entity_list)
        freqs = numpy.asarray(freq_list, dtype="float32").reshape(-1)
        vectors = numpy.asarray(vector_list, dtype="float32")
        if freqs.shape[0] != n or vectors.shape[0] != n:
            raise ArchcliError(f"set_entities got {n} ids, {freqs.shape[0]} frequencies and {vectors.shape[0]} "
                               "vectors; the three lists must have the same length")
        if n and (vectors.ndim != 2 or vectors.shape[1] != self._entity_vector_length):
            raise ArchcliError(f"set_entities got vectors of shape {vectors.shape}; this KB's "
                               f"entity_vector_length is {self._entity_vector_length}")
        bad = [e for e in entity_list if not isinstance(e, str) or not e]
        if bad:
            raise ArchcliError(f"entity ids must be non-empty strings, got {bad[0]!r}")
        first_row = dict(zip(reversed(entity_list), range(n - 1, -1, -1)))  # the first row of each id
        keep = numpy.arange(n)
        if len(first_row) != n:
            keep = numpy.fromiter(sorted(first_row.values()), dtype="int64", count=len(first_row))
            repeated = next(e for i, e in enumerate(entity_list) if first_row[e] != i)
            warnings.warn(f"{n - len(first_row)} repeated entity ids (e.g. '{repeated}'); keeping the first "
                          "entry of each", stacklevel=2)
            entity_list = [entity_list[i] for i in keep.tolist()]
        self._clear_entities()
        self._ids.add_many(entity_list)
        self._freqs.extend(freqs[keep])
        if n:
            self._vectors.extend(vectors[keep])

    def add_alias(self, alias: str, entities: Sequence[str], probabilities: Sequence[float]) -> int:
        """Add an alias with its candidate entities and their priors; returns the alias's row.

        Priors must sum to at most 1; every entity must be in the KB. An alias already present
        warns and is left unchanged, as in spaCy.
        """
        if not isinstance(alias, str) or not alias:
            raise ArchcliError(f"aliases must be non-empty strings, got {alias!r}")
        n = len(entities)
        if n != len(probabilities):
            raise ArchcliError(f"alias '{alias}' has {n} entities but {len(probabilities)} "
                               "probabilities; give one prior per entity")
        probabilities = list(map(float, probabilities))
        total = sum(probabilities)
        if total > 1 + PRIOR_SUM_TOLERANCE:
            raise ArchcliError(f"the prior probabilities of alias '{alias}' sum to {total:.6g}; they must sum to "
                               "at most 1")
        if n and min(probabilities) < 0:
            raise ArchcliError(f"alias '{alias}' has a negative prior probability: {probabilities}")
        existing = self._aliases.find(alias)
        if existing >= 0:
            warnings.warn(f"alias '{alias}' is already in the KB; leaving it unchanged", stacklevel=2)
            return existing
        ids = self._ids
        if ids._indexed:
            rows = [ids.find(entity) for entity in entities]
        else:  # a KB built in this process: every id is in the dict
            get = ids._recent.get
            rows = [get(entity, -1) for entity in entities]
        if -1 in rows:
            raise ArchcliError(f"alias '{alias}' names entity '{entities[rows.index(-1)]}', which is not in the KB; "
                               "add the entity first")
        if n > 1 and len(set(rows)) != n:
            raise ArchcliError(f"alias '{alias}' lists an entity more than once: {list(entities)}")
        cand_rows = self._cand_rows
        # Straight to the columns' array.array tails: this runs once per alias, millions of times.
        self._alias_start.tail.append(cand_rows.base.shape[0] + len(cand_rows.tail))
        self._alias_len.tail.append(n)
        cand_rows.tail.extend(rows)
        self._cand_priors.tail.extend(probabilities)
        return self._aliases.add(alias)

    def append_alias(self, alias: str, entity: str, prior_prob: float, ignore_warnings: bool = False) -> None:
        """Add one more candidate to an existing alias (spaCy's semantics: an unknown alias or
        entity, or a prior sum above 1, is an error; an entity already listed warns)."""
        alias_row = self._aliases.find(alias)
        if alias_row < 0:
            raise ArchcliError(f"alias '{alias}' is not in the KB; add it with add_alias first")
        entity_row = self._ids.find(entity)
        if entity_row < 0:
            raise ArchcliError(f"entity '{entity}' is not in the KB; add it with add_entity first")
        start, length = self._alias_start[alias_row], self._alias_len[alias_row]
        rows = self._cand_rows.slice(start, start + length)
        priors = self._cand_priors.slice(start, start + length)
        total = sum(priors) + float(prior_prob)
        if total > 1 + PRIOR_SUM_TOLERANCE:
            raise ArchcliError(f"appending '{entity}' to alias '{alias}' would make its priors sum to {total:.6g}; "
                               "they must sum to at most 1")
        if entity_row in rows:
            if not ignore_warnings:
                warnings.warn(f"entity '{entity}' is already a candidate of alias '{alias}'", stacklevel=2)
            return
        # The alias's candidates move to the end of the candidate columns (the slots they
        # leave are dropped when the KB is saved).
        self._alias_start[alias_row] = len(self._cand_rows)
        self._alias_len[alias_row] = length + 1
        self._cand_rows.extend(rows + [entity_row])
        self._cand_priors.extend(priors + [float(prior_prob)])

    # --- lookups -----------------------------------------------------------------------------
    def _candidates_of(self, alias_row: int) -> Tuple[list, list]:
        start = self._alias_start[alias_row]
        stop = start + self._alias_len[alias_row]
        return self._cand_rows.slice(start, stop), self._cand_priors.slice(start, stop)

    def get_alias_candidates(self, alias: str) -> List[Candidate]:
        """The candidates of `alias` (exact, case-sensitive match), or [] for an unknown alias."""
        row = self._aliases.find(alias)
        if row < 0:
            return []
        rows, priors = self._candidates_of(row)
        return [Candidate(self, r, alias, p) for r, p in zip(rows, priors)]

    def get_candidates(self, mention) -> List[Candidate]:
        return self.get_alias_candidates(mention.text)

    def get_candidates_batch(self, mentions: Iterable) -> List[List[Candidate]]:
        return [self.get_alias_candidates(span.text) for span in mentions]

    def get_vector(self, entity: str) -> numpy.ndarray:
        row = self._ids.find(entity)
        if row < 0:
            raise ArchcliError(f"entity '{entity}' is not in the KB")
        return self._vectors.row(row)

    def get_prior_prob(self, entity: str, alias: str) -> float:
        """P(entity | alias), 0.0 when the entity is not a candidate of the alias."""
        alias_row = self._aliases.find(alias)
        entity_row = self._ids.find(entity)
        if alias_row < 0 or entity_row < 0:
            return 0.0
        rows, priors = self._candidates_of(alias_row)
        return priors[rows.index(entity_row)] if entity_row in rows else 0.0

    # --- vectorised access (for the linker) -----------------------------------------------------
    @property
    def vectors(self) -> numpy.ndarray:
        """(n_entities, entity_vector_length) float32, one row per entity in add order (read-only)."""
        view = self._vectors.view().reshape(-1, self._entity_vector_length)[:]
        view.flags.writeable = False
        return view

    @property
    def freqs(self) -> numpy.ndarray:
        """Each entity's frequency, in add order (read-only)."""
        view = self._freqs.view()[:]
        view.flags.writeable = False
        return view

    def entity_rows(self, ids: Sequence[str]) -> numpy.ndarray:
        """Row of each entity id in `vectors` (-1 where unknown)."""
        return self._ids.find_many(ids)

    def alias_candidates_arrays(self, aliases: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """Candidates of many aliases at once: (n_candidates per alias, their entity rows, their
        priors), the last two concatenated in alias order; an unknown alias has 0 candidates."""
        alias_rows = self._aliases.find_many(aliases)
        known = alias_rows >= 0
        if len(self._aliases):
            safe = numpy.where(known, alias_rows, 0)
            lengths = numpy.where(known, self._alias_len.view()[safe], 0)
            starts = numpy.where(known, self._alias_start.view()[safe], 0)
        else:
            lengths = starts = numpy.zeros(alias_rows.shape, dtype="int64")
        index = _gather_ranges(starts, lengths)
        return lengths, self._cand_rows.view()[index], self._cand_priors.view()[index]

    # --- serialisation ---------------------------------------------------------------------------
    def _to_arrays(self) -> Tuple[dict, Dict[str, numpy.ndarray]]:
        ids_blob, ids_offsets = self._ids.arrays()
        alias_blob, alias_offsets = self._aliases.arrays()
        lengths = self._alias_len.view()
        cand_offsets = numpy.zeros((lengths.shape[0] + 1,), dtype="int64")
        numpy.cumsum(lengths, out=cand_offsets[1:])
        rows, priors = self._cand_rows.view(), self._cand_priors.view()
        if rows.shape[0] != cand_offsets[-1] or (self._alias_start.view() != cand_offsets[:-1]).any():
            index = _gather_ranges(self._alias_start.view(), lengths)  # drops slots append_alias left
            rows, priors = rows[index], priors[index]
        arrays = {
            "entity_ids_blob": ids_blob, "entity_ids_offsets": ids_offsets,
            "entity_freqs": self._freqs.view(),
            "entity_vectors": self._vectors.view().reshape(-1, self._entity_vector_length),
            "alias_blob": alias_blob, "alias_offsets": alias_offsets,
            "alias_candidate_offsets": cand_offsets, "alias_candidate_rows": rows, "alias_candidate_priors": priors,
        }
        meta = {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "entity_vector_length": self._entity_vector_length,
            "n_entities": len(self._ids), "n_aliases": len(self._aliases), "n_candidates": int(cand_offsets[-1]),
            "arrays": ARRAYS_FILE,
        }
        return meta, arrays

    def to_disk(self, path: PathLike) -> None:
        """Write the KB directory `path` (kb.json + kb.npz) atomically: a reader sees the old
        KB or the new one. A non-empty directory that is not a KB is refused, not replaced."""
        path = Path(path)
        if path.is_dir() and any(path.iterdir()) and not (path / META_FILE).exists():
            raise ArchcliError(f"is a non-empty directory without {META_FILE} (not a KB); refusing to replace it",
                               where=str(path))
        meta, arrays = self._to_arrays()
        try:
            with atomic_dir(path) as tmp:
                with open(tmp / ARRAYS_FILE, "wb") as file_:
                    numpy.savez(file_, **arrays)
                (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf8")
        except OSError as err:
            raise ArchcliError(f"cannot write the KB: {err.strerror or err}", where=str(path)) from None

    def from_disk(self, path: PathLike) -> "InMemoryLookupKB":
        """Replace this KB's contents with the KB directory at `path` (its width included)."""
        path = Path(path)
        if not path.exists():
            raise ModelDirError("KB directory does not exist", where=str(path))
        if not path.is_dir():
            raise ModelDirError("is a file; a KB is a directory (made by archcli init-kb or KB.to_disk)",
                                where=str(path))
        meta_path, arrays_path = path / META_FILE, path / ARRAYS_FILE
        if not meta_path.exists():
            if (path / "contents").exists():
                raise ModelDirError("looks like a KB written by spaCy (contents, strings.json), which archcli cannot "
                                    "read; build the KB with archcli init-kb", where=str(path))
            raise ModelDirError(f"not a KB directory (no {META_FILE})", where=str(path))
        meta = read_json(meta_path, error=ModelDirError)
        _check_meta(meta, str(meta_path))
        if not arrays_path.exists():
            raise ModelDirError(f"missing {ARRAYS_FILE} (the KB directory is incomplete)", where=str(arrays_path))
        try:
            with open(arrays_path, "rb") as file_:
                arrays = _read_npz(file_)
        except OSError as err:
            raise ModelDirError(f"cannot read: {err.strerror}", where=str(arrays_path)) from None
        except (ValueError, EOFError, zipfile.BadZipFile) as err:
            raise ModelDirError(f"damaged array file ({err}); rebuild the KB", where=str(arrays_path)) from None
        self._set_arrays(meta, arrays, str(arrays_path))
        return self

    def to_bytes(self) -> bytes:
        meta, arrays = self._to_arrays()
        out = io.BytesIO()
        numpy.savez(out, kb_json=numpy.frombuffer(json.dumps(meta).encode("utf8"), dtype="uint8"), **arrays)
        return out.getvalue()

    def from_bytes(self, data: bytes) -> "InMemoryLookupKB":
        where = "KB bytes"
        try:
            arrays = _read_npz(io.BytesIO(data))
            meta = json.loads(arrays.pop("kb_json").tobytes().decode("utf8"))
        except (ValueError, EOFError, KeyError, UnicodeDecodeError, zipfile.BadZipFile) as err:
            raise ModelDirError(f"damaged KB data ({err})", where=where) from None
        _check_meta(meta, where)
        self._set_arrays(meta, arrays, where)
        return self

    def _set_arrays(self, meta: dict, arrays: Dict[str, numpy.ndarray], where: str) -> None:
        try:
            _check_arrays(meta, arrays)
            ids = _StringTable.from_arrays(arrays["entity_ids_blob"], arrays["entity_ids_offsets"])
            aliases = _StringTable.from_arrays(arrays["alias_blob"], arrays["alias_offsets"])
        except ValueError as err:
            raise ModelDirError(f"damaged KB: {err}; rebuild it", where=where) from None
        width = int(meta["entity_vector_length"])
        self._entity_vector_length = width
        self._ids = ids
        self._freqs = _Column("f", "float32", base=arrays["entity_freqs"])
        self._vectors = _Column("f", "float32", width=width, base=arrays["entity_vectors"])
        self._aliases = aliases
        cand_offsets = arrays["alias_candidate_offsets"]
        self._alias_start = _Column("q", "int64", base=cand_offsets[:-1])
        self._alias_len = _Column("q", "int64", base=numpy.diff(cand_offsets))
        self._cand_rows = _Column("q", "int64", base=arrays["alias_candidate_rows"])
        self._cand_priors = _Column("f", "float32", base=arrays["alias_candidate_priors"])


_ARRAY_DTYPES = {
    "entity_ids_blob": "uint8", "entity_ids_offsets": "int64", "entity_freqs": "float32",
    "entity_vectors": "float32", "alias_blob": "uint8", "alias_offsets": "int64",
    "alias_candidate_offsets": "int64", "alias_candidate_rows": "int64", "alias_candidate_priors": "float32",
}


def _check_width(width) -> int:
    if isinstance(width, bool) or not isinstance(width, (int, numpy.integer)) or width < 1:
        raise ArchcliError(f"entity_vector_length must be a positive integer, got {width!r}")
    return int(width)


def _read_npz(file_) -> Dict[str, numpy.ndarray]:
    """Every array of an .npz, read now (a truncated member fails here, not on first use)."""
    with numpy.load(file_, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def _check_meta(meta, where: str) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelDirError(f"not an archcli KB (expected \"format\": \"{FORMAT_NAME}\")", where=where)
    if meta.get("version") != FORMAT_VERSION:
        raise ModelDirError(f"KB format version {meta.get('version')!r}; this archcli reads version "
                            f"{FORMAT_VERSION}. Rebuild the KB with this archcli's init-kb", where=where)
    for key in ("entity_vector_length", "n_entities", "n_aliases", "n_candidates"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "entity_vector_length" else 0):
            raise ModelDirError(f"damaged: '{key}' is {value!r}", where=where)


def _check_arrays(meta: dict, arrays: Dict[str, numpy.ndarray]) -> None:
    """Shapes, dtypes and offsets agree with kb.json and each other (ValueError otherwise)."""
    missing = [name for name in _ARRAY_DTYPES if name not in arrays]
    if missing:
        raise ValueError(f"no array {', '.join(missing)}")
    for name, dtype in _ARRAY_DTYPES.items():
        if arrays[name].dtype != numpy.dtype(dtype):
            raise ValueError(f"array {name} has dtype {arrays[name].dtype}, expected {dtype}")
    n, m, k = meta["n_entities"], meta["n_aliases"], meta["n_candidates"]
    width = meta["entity_vector_length"]
    expected = {
        "entity_ids_offsets": (n + 1,), "entity_freqs": (n,), "entity_vectors": (n, width),
        "alias_offsets": (m + 1,), "alias_candidate_offsets": (m + 1,), "alias_candidate_rows": (k,),
        "alias_candidate_priors": (k,),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(f"array {name} has shape {arrays[name].shape}, but kb.json's counts "
                             f"(n_entities {n}, n_aliases {m}, n_candidates {k}, width {width}) need {shape}")
    for offsets, blob, total in (("entity_ids_offsets", "entity_ids_blob", None),
                                 ("alias_offsets", "alias_blob", None), ("alias_candidate_offsets", None, k)):
        values = arrays[offsets]
        end = arrays[blob].shape[0] if blob else total
        if values[0] != 0 or values[-1] != end or (numpy.diff(values) < (1 if blob else 0)).any():
            raise ValueError(f"array {offsets} is not a valid offsets table")
    for blob in ("entity_ids_blob", "alias_blob"):
        try:
            arrays[blob].tobytes().decode("utf8")
        except UnicodeDecodeError:
            raise ValueError(f"array {blob} is not UTF-8 text") from None
    rows = arrays["alias_candidate_rows"]
    if rows.shape[0] and (rows.min() < 0 or rows.max() >= n):
        raise ValueError("alias_candidate_rows refers to entities that are not in the KB")
    priors = arrays["alias_candidate_priors"]
    if not numpy.isfinite(priors).all() or not numpy.isfinite(arrays["entity_vectors"]).all():
        raise ValueError("priors or vectors hold NaN or infinite values")
