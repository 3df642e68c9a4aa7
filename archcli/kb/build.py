"""Building a KB from files: entities, aliases with priors, and entity vectors from descriptions.

`archcli init-kb` is a thin wrapper over `build_kb`. Every input is read and checked before
the KB is built, so a bad line is one ArchcliError naming FILE:LINE and nothing is written.
Entity vectors are the mean, over a description's tokens, of static word vectors
(`description_vectors_static`) or of a trained pipeline's tok2vec output
(`description_vectors_model`).
"""
import csv
import gzip
import json
import math
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy

from ..errors import ArchcliError
from ..tokens import Doc, Tokenizer, Vocab, attrs
from ..tokens.vectors import Vectors, read_word2vec_text
from .knowledge_base import PRIOR_SUM_TOLERANCE, InMemoryLookupKB

PathLike = Union[str, Path]
CSV_FIELDS = ("id", "name", "description")


class Entities(NamedTuple):
    """The rows of an entity file, in file order; `lines` are 1-based line numbers."""

    ids: List[str]
    names: List[str]
    descriptions: List[str]
    freqs: List[float]
    lines: List[int]


class Alias(NamedTuple):
    alias: str
    entities: List[str]
    probabilities: List[float]
    line: int


class VectorReport(NamedTuple):
    """Entity vectors, one row per entity, and the entities whose vector is all zeros."""

    vectors: numpy.ndarray
    zero_rows: List[int]
    source: str


# --- reading files -----------------------------------------------------------------------------
def _text_lines(path: Path, what: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) of a UTF-8 (optionally gzipped) text file; errors name the file."""
    if not path.exists():
        raise ArchcliError(f"{what} file not found", where=str(path))
    if path.is_dir():
        raise ArchcliError(f"is a directory; give the {what} file", where=str(path))
    opener = gzip.open if path.suffix == ".gz" else open
    line_no = 0
    try:
        with opener(path, "rt", encoding="utf8", newline="") as file_:
            for line_no, line in enumerate(file_, start=1):
                yield line_no, line
    except UnicodeDecodeError as err:
        raise ArchcliError(f"not UTF-8 text (bad byte {err.object[err.start:err.start + 1]!r})",
                           where=f"{path}:{line_no + 1}") from None
    except (OSError, EOFError) as err:
        raise ArchcliError(f"cannot read the {what} file: {getattr(err, 'strerror', None) or err}",
                           where=str(path)) from None


def _is_jsonl(path: Path) -> bool:
    """JSONL by extension (.jsonl, .json, .ndjson), CSV for .csv, else by the first character."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".jsonl", ".json", ".ndjson"):
        return True
    if suffixes and suffixes[-1] == ".csv":
        return False
    for _, line in _text_lines(path, "entities"):
        if line.strip():
            return line.lstrip().startswith("{")
    return True


def _json_objects(path: Path, what: str) -> Iterator[Tuple[int, Dict[str, Any]]]:
    for line_no, line in _text_lines(path, what):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ArchcliError(f"not valid JSON ({err.msg} at column {err.colno})", where=f"{path}:{line_no}") from None
        if not isinstance(record, dict):
            raise ArchcliError(f"expected a JSON object per line, got {type(record).__name__}",
                               where=f"{path}:{line_no}")
        yield line_no, record


def _freq(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ArchcliError(f"'freq' must be a non-negative number, got {value!r}", where=where)
    return float(value)


def read_entities(path: PathLike) -> Entities:
    """Read an entity file: JSONL `{"id", "name", "description", "freq"}` (other keys such as
    "label" are ignored; freq defaults to 1) or headerless CSV `id,name,description[,freq]`.

    An id given twice, a malformed line or a missing id is an ArchcliError naming FILE:LINE.
    """
    path = Path(path)
    entities = Entities([], [], [], [], [])
    seen: Dict[str, int] = {}

    def add(entity_id: Any, name: Any, description: Any, freq: float, line_no: int) -> None:
        where = f"{path}:{line_no}"
        if not isinstance(entity_id, str) or not entity_id.strip():
            raise ArchcliError(f"the entity id must be a non-empty string, got {entity_id!r}", where=where)
        for key, value in (("name", name), ("description", description)):
            if not isinstance(value, str):
                raise ArchcliError(f"'{key}' must be a string, got {value!r}", where=where)
        if entity_id in seen:
            raise ArchcliError(f"entity id '{entity_id}' is already given on line {seen[entity_id]}; ids must be "
                               "unique", where=where)
        seen[entity_id] = line_no
        entities.ids.append(entity_id)
        entities.names.append(name)
        entities.descriptions.append(description)
        entities.freqs.append(freq)
        entities.lines.append(line_no)

    if _is_jsonl(path):
        for line_no, record in _json_objects(path, "entities"):
            where = f"{path}:{line_no}"
            if "id" not in record:
                raise ArchcliError("missing key 'id' (entity lines look like {\"id\": …, \"name\": …, "
                                   "\"description\": …, \"freq\": …})", where=where)
            add(record["id"], record.get("name", ""), record.get("description", ""),
                _freq(record.get("freq", 1), where), line_no)
    else:
        _read_csv_entities(path, add)
    if not entities.ids:
        raise ArchcliError("holds no entities", where=str(path))
    return entities


def _read_csv_entities(path: Path, add: Callable[..., None]) -> None:
    reader = csv.reader((line for _, line in _text_lines(path, "entities")), strict=True)
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise ArchcliError(f"malformed CSV ({err})", where=f"{path}:{reader.line_num}") from None
        line_no, previous = previous + 1, reader.line_num  # a quoted field may span lines: name the first
        if not row or not any(field.strip() for field in row):
            continue
        if line_no == 1 and [f.strip().lower() for f in row] == list(CSV_FIELDS):
            continue  # a header row
        if len(row) not in (3, 4):
            raise ArchcliError(f"expected 3 comma-separated fields (id,name,description) or 4 (…,freq), found "
                               f"{len(row)}", where=f"{path}:{line_no}")
        freq = 1.0
        if len(row) == 4:
            try:
                freq = float(row[3])
            except ValueError:
                raise ArchcliError(f"the 4th field (freq) must be a number, got {row[3]!r}",
                                   where=f"{path}:{line_no}") from None
            freq = _freq(freq, f"{path}:{line_no}")
        add(row[0].strip(), row[1], row[2], freq, line_no)


def read_aliases(path: PathLike, entity_ids: Sequence[str]) -> List[Alias]:
    """Read an alias file, JSONL `{"alias", "entities": [ids], "probabilities": [priors]}`,
    checked against the entity ids: unknown entities, priors summing above 1, mismatched
    lists and repeated aliases are ArchcliErrors naming FILE:LINE."""
    path = Path(path)
    known = set(entity_ids)
    seen: Dict[str, int] = {}
    aliases: List[Alias] = []
    for line_no, record in _json_objects(path, "aliases"):
        where = f"{path}:{line_no}"
        missing = [key for key in ("alias", "entities", "probabilities") if key not in record]
        if missing:
            raise ArchcliError(f"missing key '{missing[0]}' (alias lines look like {{\"alias\": …, \"entities\": "
                               "[…], \"probabilities\": […]}})", where=where)
        alias, entities, probs = record["alias"], record["entities"], record["probabilities"]
        if not isinstance(alias, str) or not alias:
            raise ArchcliError(f"'alias' must be a non-empty string, got {alias!r}", where=where)
        if not isinstance(entities, list) or not all(isinstance(e, str) for e in entities):
            raise ArchcliError(f"'entities' of alias '{alias}' must be a list of entity ids", where=where)
        if not isinstance(probs, list) or not all(
                isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) for p in probs):
            raise ArchcliError(f"'probabilities' of alias '{alias}' must be a list of numbers", where=where)
        if len(entities) != len(probs):
            raise ArchcliError(f"alias '{alias}' has {len(entities)} entities but {len(probs)} probabilities",
                               where=where)
        unknown = [e for e in entities if e not in known]
        if unknown:
            raise ArchcliError(f"alias '{alias}' names entity '{unknown[0]}', which is not in the entities file",
                               where=where)
        if len(set(entities)) != len(entities):
            raise ArchcliError(f"alias '{alias}' lists an entity more than once", where=where)
        if any(p < 0 for p in probs):
            raise ArchcliError(f"alias '{alias}' has a negative probability", where=where)
        total = math.fsum(probs)
        if total > 1 + PRIOR_SUM_TOLERANCE:
            raise ArchcliError(f"the probabilities of alias '{alias}' sum to {total:.6g}; they must sum to at most 1",
                               where=where)
        if alias in seen:
            raise ArchcliError(f"alias '{alias}' is already given on line {seen[alias]}; give each alias once, with "
                               "all its entities", where=where)
        seen[alias] = line_no
        aliases.append(Alias(alias, list(entities), [float(p) for p in probs], line_no))
    return aliases


def names_as_aliases(entities: Entities) -> List[Alias]:
    """Each entity's name as an alias; entities sharing a name share its prior equally."""
    by_name: Dict[str, List[int]] = {}
    for i, name in enumerate(entities.names):
        if name.strip():
            by_name.setdefault(name, []).append(i)
    return [Alias(name, [entities.ids[i] for i in rows], [1.0 / len(rows)] * len(rows), entities.lines[rows[0]])
            for name, rows in by_name.items()]


# --- entity vectors ------------------------------------------------------------------------------
def load_static_vectors(path: PathLike, vocab: Vocab) -> Vectors:
    """What `[initialize] vectors` accepts: a word2vec/fastText .vec(.gz) text file, or a model
    directory holding vocab/vectors.npz."""
    path = Path(path)
    if path.is_dir():
        stored = path / "vocab" / "vectors.npz"
        if not stored.exists():
            raise ArchcliError("is a directory without vocab/vectors.npz; give a word2vec/fastText .vec(.gz) file "
                               "or a model directory with vectors", where=str(path))
        try:
            return Vectors.from_disk(stored, name=path.name)
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
            raise ArchcliError(f"damaged vectors table: {err}", where=str(stored)) from None
    return read_word2vec_text(path, vocab.strings)


def _batches(n: int, batch_size: int, progress: bool, desc: str) -> Iterator[Tuple[int, int]]:
    import tqdm

    with tqdm.tqdm(total=n, unit="entity", desc=desc, leave=False, file=sys.stderr,
                   disable=None if progress else True) as bar:
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            yield start, stop
            bar.update(stop - start)


def description_vectors_static(descriptions: Sequence[str], vectors: Vectors, *, batch_size: int = 1000,
                               progress: bool = True) -> VectorReport:
    """Mean static vector (keyed by the token text, ORTH) of each description's tokens, tokenised
    with archcli's default tokenizer; a description with no word in the table gets a zero
    vector (reported in `zero_rows`)."""
    vocab = Vocab()
    vocab.set_vectors(vectors)
    tokenizer = Tokenizer(vocab)
    table = numpy.asarray(vectors.data, dtype="float32")
    out = numpy.zeros((len(descriptions), table.shape[1]), dtype="float32")
    zero_rows: List[int] = []
    for start, stop in _batches(len(descriptions), batch_size, progress, "Entity vectors"):
        docs = [tokenizer(text) for text in descriptions[start:stop]]
        vector_rows = vocab.vector_rows(attrs.ORTH)  # once per batch: it grows with the vocab
        for i, doc in enumerate(docs, start=start):
            rows = vector_rows[doc.lex]
            rows = rows[rows >= 0]
            if rows.shape[0]:
                out[i] = table[rows].mean(axis=0)
            else:
                zero_rows.append(i)
    return VectorReport(out, zero_rows, f"static vectors {vectors.name or ''} (width {table.shape[1]})".replace("  ", " "))


def find_tok2vec(nlp) -> Tuple[str, Callable[[List[Doc]], List[Any]]]:
    """(component name, predict) of the pipeline's first tok2vec component, else of the first
    component whose model embeds its own tok2vec (not a listener)."""
    for name, proc in nlp.components:
        if getattr(proc, "kind", None) == "tok2vec":
            return name, proc.predict
    for name, proc in nlp.components:
        model = getattr(proc, "model", None)
        if model is not None and hasattr(model, "has_ref") and model.has_ref("tok2vec"):
            tok2vec = model.get_ref("tok2vec")
            if "listener" not in tok2vec.name:
                return f"{name} (its model.tok2vec)", tok2vec.predict
    raise ArchcliError(f"the pipeline has no tok2vec component and no component with its own tok2vec (it has: "
                       f"{', '.join(nlp.pipe_names) or 'no components'}); give --vectors instead")


def description_vectors_model(descriptions: Sequence[str], nlp, *, batch_size: int = 64,
                              progress: bool = True) -> VectorReport:
    """Mean of a trained pipeline's tok2vec output over each description's tokens, in batches
    (tokenised with the pipeline's own tokenizer); an empty description gets a zero vector."""
    name, predict = find_tok2vec(nlp)
    width = None
    rows: List[Optional[numpy.ndarray]] = []
    for start, stop in _batches(len(descriptions), batch_size, progress, "Entity vectors"):
        docs = [nlp.make_doc(text) for text in descriptions[start:stop]]
        filled = [doc for doc in docs if len(doc)]
        outputs = iter(predict(filled) if filled else [])
        for doc in docs:
            if not len(doc):
                rows.append(None)
                continue
            tokvecs = numpy.asarray(_to_numpy(next(outputs)), dtype="float32")
            width = tokvecs.shape[1]
            rows.append(tokvecs.mean(axis=0))
    if width is None:
        raise ArchcliError("every entity description is empty; the tok2vec has nothing to encode")
    out = numpy.zeros((len(descriptions), width), dtype="float32")
    zero_rows = [i for i, row in enumerate(rows) if row is None]
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return VectorReport(out, zero_rows, f"tok2vec of component '{name}' (width {width})")


def _to_numpy(array) -> numpy.ndarray:
    return array.get() if hasattr(array, "get") and not isinstance(array, numpy.ndarray) else array


# --- the KB ----------------------------------------------------------------------------------------
def center_vectors(report: VectorReport) -> VectorReport:
    """The vectors minus their mean (over the entities that have one; zero vectors stay zero).

    Means of word vectors share a large common direction (frequent words), so the raw cosine of
    any two descriptions is high and the linker's context similarity barely separates candidates;
    without it the differences between entities are what the cosine measures.
    """
    vectors = numpy.array(report.vectors, dtype="float32", copy=True)
    has_vector = numpy.ones((vectors.shape[0],), dtype=bool)
    has_vector[list(report.zero_rows)] = False
    if has_vector.sum() > 1:
        vectors[has_vector] -= vectors[has_vector].mean(axis=0)
    return report._replace(vectors=vectors, source=report.source + ", centred")


def build_kb(entities: Entities, aliases: Optional[List[Alias]], vectors: VectorReport, *,
             vocab: Optional[Vocab] = None, entity_vector_length: Optional[int] = None) -> InMemoryLookupKB:
    """A KB of `entities` with their vectors and `aliases` (each entity's name when None)."""
    width = vectors.vectors.shape[1]
    if entity_vector_length is not None and entity_vector_length != width:
        raise ArchcliError(f"--entity-vector-length is {entity_vector_length}, but the entity vectors from the "
                           f"{vectors.source} have width {width}; drop the flag or use vectors of that width")
    kb = InMemoryLookupKB(vocab if vocab is not None else Vocab(), entity_vector_length=width)
    kb.set_entities(entities.ids, entities.freqs, vectors.vectors)
    for alias in (aliases if aliases is not None else names_as_aliases(entities)):
        kb.add_alias(alias.alias, alias.entities, alias.probabilities)
    return kb


def kb_stats(kb: InMemoryLookupKB) -> Dict[str, Any]:
    """Counts, ambiguity, prior sums and vector norms of a KB (what `archcli debug-kb` prints)."""
    _, arrays = kb._to_arrays()
    offsets = arrays["alias_candidate_offsets"]
    n_cands = numpy.diff(offsets)
    priors = arrays["alias_candidate_priors"].astype("float64")
    sums = numpy.zeros((priors.shape[0] + 1,), dtype="float64")
    numpy.cumsum(priors, out=sums[1:])
    prior_sums = sums[offsets[1:]] - sums[offsets[:-1]]
    norms = numpy.linalg.norm(arrays["entity_vectors"].astype("float64"), axis=1)
    reachable = numpy.zeros((len(kb),), dtype="bool")
    reachable[arrays["alias_candidate_rows"]] = True

    def summary(values: numpy.ndarray) -> Dict[str, Optional[float]]:
        if not values.shape[0]:
            return {"min": None, "mean": None, "max": None}
        return {"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max())}

    return {
        "entities": len(kb), "aliases": kb.get_size_aliases(), "candidates": int(offsets[-1]),
        "entity_vector_length": kb.entity_vector_length,
        "ambiguous_aliases": int((n_cands > 1).sum()), "max_candidates": int(n_cands.max()) if n_cands.shape[0] else 0,
        "mean_candidates": float(n_cands.mean()) if n_cands.shape[0] else 0.0,
        "prior_sum": summary(prior_sums), "aliases_prior_sum_below_1": int((prior_sums < 1 - 1e-4).sum()),
        "entities_without_alias": int((~reachable).sum()),
        "vector_norm": summary(norms), "zero_vectors": int((norms == 0).sum()),
    }
