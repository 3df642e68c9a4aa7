"""Stable 64-bit string hashes and the store that maps them back to text.

The hash is MurmurHash64A with seed 1 over UTF-8 bytes, the function spaCy uses for its
StringStore, so hashes written into `.spacy` files by either tool mean the same string.
"""
from typing import Dict, Iterable, Iterator, Union

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
    """Hash of a string; the empty string is 0, meaning 'no value'."""
    if not text:
        return 0
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
        return self._by_hash[int(key)]

    def get_text(self, key: int, default: str = "") -> str:
        return self._by_hash.get(int(key), default)

    def __contains__(self, item: Union[int, str]) -> bool:
        if isinstance(item, str):
            return item in self._by_text
        return int(item) in self._by_hash

    def __len__(self) -> int:
        return len(self._by_text) - 1

    def __iter__(self) -> Iterator[str]:
        return (text for text in self._by_text if text)

    def to_list(self) -> list:
        return sorted(self)
