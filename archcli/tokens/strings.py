"""Stable 64-bit string keys and the store that maps them back to text.

A string's key is MurmurHash64A with seed 1 over its UTF-8 bytes, the function spaCy uses for
its StringStore, except for the strings of spaCy's symbol table, whose key is their small symbol
id, as in spaCy. So keys in `.spacy` files, lexical features and the hash-embedding rows they
select mean the same in both tools.
"""
from typing import Dict, Iterable, Iterator, Union

from .symbols import N_SYMBOLS, SYMBOL_IDS, SYMBOL_NAMES

_M = 0xC6A4A7935BD1E995
_MASK = (1 << 64) - 1


def hash_bytes(data: bytes, seed: int = 1) -> int:
    """MurmurHash64A of `data`: deterministic across processes (unlike Python's hash)."""
    length = len(data)
    h = (seed ^ ((length * _M) & _MASK)) & _MASK
    n_blocks = length // 8
    for offset in range(0, n_blocks * 8, 8):
        k = int.from_bytes(data[offset : offset + 8], "little")
        k = (k * _M) & _MASK
        k ^= k >> 47
        k = (k * _M) & _MASK
        h ^= k
        h = (h * _M) & _MASK
    if length & 7:
        h ^= int.from_bytes(data[n_blocks * 8 :], "little")
        h = (h * _M) & _MASK
    h ^= h >> 47
    h = (h * _M) & _MASK
    h ^= h >> 47
    return h


def hash_string(text: str) -> int:
    """Key of a string: its symbol id if it has one, else its hash; the empty string is 0 ('no value')."""
    if not text:
        return 0
    symbol = SYMBOL_IDS.get(text)
    if symbol is not None:
        return symbol
    return hash_bytes(text.encode("utf8"))


class StringStore:
    """Two-way map between strings and their 64-bit hashes."""

    def __init__(self, strings: Iterable[str] = ()) -> None:
        self._by_hash: Dict[int, str] = {0: ""}
        self._by_text: Dict[str, int] = {"": 0}
        for text in strings:
            self.add(text)

    def add(self, text: str) -> int:
        key = self._by_text.get(text)
        if key is None:
            key = hash_string(text)
            self._by_text[text] = key
            self._by_hash[key] = text
        return key

    def __getitem__(self, key: Union[int, str]) -> Union[int, str]:
        if isinstance(key, str):
            return self.add(key)
        key = int(key)
        if key < N_SYMBOLS:  # symbols are always known, as in spaCy
            return SYMBOL_NAMES[key]
        return self._by_hash[key]

    def get_text(self, key: int, default: str = "") -> str:
        key = int(key)
        if 0 < key < N_SYMBOLS:
            return SYMBOL_NAMES[key]
        return self._by_hash.get(key, default)

    def __contains__(self, item: Union[int, str]) -> bool:
        if isinstance(item, str):
            return item in self._by_text
        return int(item) < N_SYMBOLS or int(item) in self._by_hash

    def __len__(self) -> int:
        return len(self._by_text) - 1

    def __iter__(self) -> Iterator[str]:
        return (text for text in self._by_text if text)

    def to_list(self) -> list:
        return sorted(self)
