"""Pseudo-projective parsing: lift non-projective arcs for training, restore them at prediction.

Each lifted arc gets its label decorated `label||head_label`, where head_label is the label of the
token it really attaches to (Nivre & Nilsson 2005, "head" encoding). Heads are absolute indices;
a root points at itself.
"""
from typing import List, Optional, Sequence, Tuple

DELIMITER = "||"


def _is_nonproj_arc(token: int, heads: Sequence[int]) -> bool:
    """An arc is non-projective if some token between head and dependent is not dominated by the head."""
    head = heads[token]
    if head == token:
        return False
    start, end = (head + 1, token) if head < token else (token + 1, head)
    for k in range(start, end):
        ancestor = k
        seen = 0
        while ancestor != head and heads[ancestor] != ancestor and seen <= len(heads):
            ancestor = heads[ancestor]
            seen += 1
        if ancestor != head:
            return True
    return False


def nonproj_tokens(heads: Sequence[int]) -> List[int]:
    return [i for i in range(len(heads)) if _is_nonproj_arc(i, heads)]


def is_projective(heads: Sequence[int]) -> bool:
    return not nonproj_tokens(heads)


def projectivize(heads: Sequence[int], labels: Sequence[str]) -> Tuple[List[int], List[str]]:
    """Lift the shortest non-projective arc to its grandparent until the tree is projective."""
    heads = list(heads)
    labels = list(labels)
    original_head_label = {}
    if _has_cycle(heads):
        return heads, labels
    while True:
        # Arcs from a root cannot be lifted further (and within one tree are never crossing).
        bad = [t for t in nonproj_tokens(heads) if heads[heads[t]] != heads[t]]
        if not bad:
            break
        token = min(bad, key=lambda t: abs(heads[t] - t))
        head = heads[token]
        if token not in original_head_label:
            original_head_label[token] = labels[head]
        heads[token] = heads[head]
    for token, head_label in original_head_label.items():
        labels[token] = f"{labels[token]}{DELIMITER}{head_label}"
    return heads, labels


def deprojectivize(heads: Sequence[int], labels: Sequence[str]) -> Tuple[List[int], List[str]]:
    """Reattach each decorated token to the nearest descendant (breadth-first) of its current head
    that carries the wanted head label; undecorate the label either way."""
    heads = list(heads)
    labels = list(labels)
    children: List[List[int]] = [[] for _ in heads]
    for i, h in enumerate(heads):
        if h != i:
            children[h].append(i)
    for token, label in enumerate(labels):
        if DELIMITER not in label:
            continue
        base, head_label = label.split(DELIMITER, 1)
        labels[token] = base
        new_head = _find_new_head(token, heads[token], head_label, labels, children)
        if new_head is not None and new_head != heads[token]:
            old = heads[token]
            if old != token:
                children[old].remove(token)
            heads[token] = new_head
            children[new_head].append(token)
    return heads, labels


def _find_new_head(token: int, start: int, head_label: str, labels: List[str],
                   children: List[List[int]]) -> Optional[int]:
    queue = [c for c in children[start] if c != token]
    seen = set()
    while queue:
        candidate = queue.pop(0)
        if candidate in seen:
            continue
        seen.add(candidate)
        if labels[candidate].split(DELIMITER, 1)[0] == head_label:
            return candidate
        queue.extend(c for c in children[candidate] if c != token)
    return None


def _has_cycle(heads: Sequence[int]) -> bool:
    n = len(heads)
    for start in range(n):
        node, steps = start, 0
        while heads[node] != node:
            node = heads[node]
            steps += 1
            if steps > n:
                return True
    return False


def find_cycle_or_bad_root(heads: Sequence[int], sent_bounds: Sequence[Tuple[int, int]]) -> Optional[str]:
    """A description of the first structural problem: cycle, head out of range, or a sentence
    with no root / more than one root."""
    n = len(heads)
    for i, h in enumerate(heads):
        if not 0 <= h < n:
            return f"token {i} has head {h}, outside the doc"
    if _has_cycle(heads):
        return "the heads form a cycle"
    for start, end in sent_bounds:
        roots = [i for i in range(start, end) if heads[i] == i]
        if len(roots) != 1:
            return f"the sentence starting at token {start} has {len(roots)} roots"
    return None
