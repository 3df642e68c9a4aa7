"""spaCy's symbol table: the strings whose key is a small integer instead of a hash.

spaCy's StringStore gives these ~450 strings (lexical flag and attribute names, universal POS
tags, OntoNotes entity labels, ClearNLP dependency labels, "_") their position in this table as
their key. That applies to any occurrence of the string, words included ("number", "root", and "nn",
the NORM of "NN"), so archcli's StringStore does the same: keys, feature values and
`.spacy` files then agree with spaCy's, and so do the hash-embedding rows a word's features pick.
"""
from typing import Dict, Tuple

# Ids are positions in SYMBOL_NAMES (0 is the empty string). Checked against spacy.symbols in
# tests/test_docbin_spacy_compat.py.
_LEX_FLAGS = (
    "IS_ALPHA", "IS_ASCII", "IS_DIGIT", "IS_LOWER", "IS_PUNCT", "IS_SPACE", "IS_TITLE",
    "IS_UPPER", "LIKE_URL", "LIKE_NUM", "LIKE_EMAIL", "IS_STOP", "IS_OOV_DEPRECATED",
    "IS_BRACKET", "IS_QUOTE", "IS_LEFT_PUNCT", "IS_RIGHT_PUNCT", "IS_CURRENCY",
)  # 1-18
_ATTR_NAMES = (
    "ID", "ORTH", "LOWER", "NORM", "SHAPE", "PREFIX", "SUFFIX", "LENGTH", "CLUSTER", "LEMMA",
    "POS", "TAG", "DEP", "ENT_IOB", "ENT_TYPE", "HEAD", "SENT_START", "SPACY", "PROB", "LANG",
)  # 64-83
UNIVERSAL_POS = (
    "ADJ", "ADP", "ADV", "AUX", "CONJ", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
    "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X", "EOL", "SPACE",
)  # 84-103: the only values spaCy accepts in the POS column
_ENT_LABELS = (
    "PERSON", "NORP", "FACILITY", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART",
    "LANGUAGE", "LAW", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL",
)  # 380-397
_DEP_LABELS = (
    "acomp", "advcl", "advmod", "agent", "amod", "appos", "attr", "aux", "auxpass", "cc",
    "ccomp", "complm", "conj", "cop", "csubj", "csubjpass", "dep", "det", "dobj", "expl",
    "hmod", "hyph", "infmod", "intj", "iobj", "mark", "meta", "neg", "nmod", "nn", "npadvmod",
    "nsubj", "nsubjpass", "num", "number", "oprd", "obj", "obl", "parataxis", "partmod",
    "pcomp", "pobj", "poss", "possessive", "preconj", "prep", "prt", "punct", "quantmod",
    "relcl", "rcmod", "root", "xcomp", "acl",
)  # 398-451
SYMBOL_NAMES: Tuple[str, ...] = (
    ("",)
    + _LEX_FLAGS
    + tuple(f"FLAG{i}" for i in range(19, 64))
    + _ATTR_NAMES
    + UNIVERSAL_POS
    + tuple(f"DEPRECATED{i:03d}" for i in range(1, 277))
    + _ENT_LABELS
    + _DEP_LABELS
    + ("ENT_KB_ID", "MORPH", "ENT_ID", "IDX", "_")  # 452-456
)
N_SYMBOLS = len(SYMBOL_NAMES)
assert N_SYMBOLS == 457 and SYMBOL_NAMES[84] == "ADJ" and SYMBOL_NAMES[380] == "PERSON"
SYMBOL_IDS: Dict[str, int] = {name: i for i, name in enumerate(SYMBOL_NAMES) if name}
