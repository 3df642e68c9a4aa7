"""Token attribute names and ids, and the lexical functions behind them.

Ids match spaCy's attribute enumeration so `FeatureExtractor(columns=[67])`-style configs and the
`attrs` header of `.spacy` files mean the same thing here.
"""
from typing import Dict, List, Union

ID = 64
ORTH = 65
LOWER = 66
NORM = 67
SHAPE = 68
PREFIX = 69
SUFFIX = 70
LENGTH = 71
LEMMA = 73
POS = 74
TAG = 75
DEP = 76
ENT_IOB = 77
ENT_TYPE = 78
HEAD = 79
SENT_START = 80
SPACY = 81
ENT_KB_ID = 452
MORPH = 453
ENT_ID = 454
IDX = 455
SENT_END = 456

NAMES: Dict[str, int] = {
    "ID": ID, "ORTH": ORTH, "LOWER": LOWER, "NORM": NORM, "SHAPE": SHAPE, "PREFIX": PREFIX,
    "SUFFIX": SUFFIX, "LENGTH": LENGTH, "LEMMA": LEMMA, "POS": POS, "TAG": TAG, "DEP": DEP,
    "ENT_IOB": ENT_IOB, "ENT_TYPE": ENT_TYPE, "HEAD": HEAD, "SENT_START": SENT_START,
    "SPACY": SPACY, "ENT_KB_ID": ENT_KB_ID, "MORPH": MORPH, "ENT_ID": ENT_ID, "IDX": IDX,
    "SENT_END": SENT_END,
}
IDS_TO_NAMES: Dict[int, str] = {value: key for key, value in NAMES.items()}

# Columns of the vocab's lexeme table, in order: one row per distinct word.
LEX_ATTRS: List[int] = [ID, ORTH, LOWER, NORM, PREFIX, SUFFIX, SHAPE]
LEX_COLUMN: Dict[int, int] = {attr: i for i, attr in enumerate(LEX_ATTRS)}
# Attributes stored per token on the Doc rather than per word in the vocab.
TOKEN_ATTRS = (TAG, POS, DEP, LEMMA, ENT_TYPE, ENT_IOB, SENT_START, HEAD, SPACY, MORPH)


def intify_attr(attr: Union[int, str]) -> int:
    """Map an attribute name (any case, spaCy spelling) or id to its id."""
    if isinstance(attr, int):
        if attr not in IDS_TO_NAMES:
            raise ValueError(f"Unknown token attribute id {attr}")
        return attr
    name = str(attr).upper()
    if name not in NAMES:
        known = ", ".join(sorted(NAMES))
        raise ValueError(f"Unknown token attribute '{attr}'. Known: {known}")
    return NAMES[name]


def lower(text: str) -> str:
    return text.lower()


def norm(text: str) -> str:
    """Normalised form: whole-word exceptions (quotes, dashes, currency signs), else lower case.

    The same rule as spaCy's base norms, so NORM features (and the hash-embedding rows they pick)
    agree with spaCy's for every word; the lookup is on the word as written, before lower-casing.
    """
    return _BASE_NORMS.get(text) or text.lower()


# Whole-word norm exceptions: variants of one symbol share a norm so they share a representation.
_APOSTROPHES = ("’", "‘", "´", "`")
_DOUBLE_QUOTES = ("”", "“", "''", "``", "´´", "„", "»", "«", "‘‘", "’’")
_FULLWIDTH = {"？": "?", "！": "!", "，": ",", "；": ";", "：": ":", "。": ".", "।": "."}
_DASHES = ("—", "–", "--", "---", "——")
_CURRENCIES = ("€", "£", "¥", "฿", "US$", "C$", "A$", "₺", "₹", "৳", "₩", "Mex$", "₣", "E£")
_BASE_NORMS = {
    **{form: "'s" for form in ("'s", "'S", "’s", "’S")},
    **dict.fromkeys(_APOSTROPHES, "'"),
    **dict.fromkeys(_DOUBLE_QUOTES, '"'),
    **_FULLWIDTH,
    "…": "...",
    **dict.fromkeys(_DASHES, "-"),
    **dict.fromkeys(_CURRENCIES, "$"),
}


def prefix(text: str) -> str:
    return text[:1]


def suffix(text: str) -> str:
    return text[-3:]


def shape(text: str) -> str:
    """Orthographic shape: letters to X/x, digits to d, runs of one kind cut at 4."""
    if len(text) >= 100:
        return "LONG"
    out = []
    last = ""
    run = 0
    for char in text:
        if char.isalpha():
            kind = "X" if char.isupper() else "x"
        elif char.isdigit():
            kind = "d"
        else:
            kind = char
        if kind == last:
            run += 1
        else:
            run = 0
            last = kind
        if run < 4:
            out.append(kind)
    return "".join(out)
