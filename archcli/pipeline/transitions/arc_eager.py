"""Arc-eager dependency parsing with labelled arcs and a dynamic oracle, over a StateBatch.

Actions: SHIFT, REDUCE, LEFT-label, RIGHT-label and BREAK. A doc is final when its buffer is
empty; tokens left without a head are roots, and sentence boundaries follow from the roots'
subtrees. BREAK marks the second buffer token as a sentence start, as spaCy's arc-eager does:
no arc may then cross it, so the stack must be emptied (REDUCE pops a headless word as a root)
before that token is shifted. Sentence segmentation is thus an explicit decision on (B0, B1)
rather than a by-product of leaving roots on the stack. Costs (Goldberg & Nivre 2012) count the
gold arcs (and gold sentence starts) an action makes unreachable, so training can follow the
model's own (possibly wrong) choices and still learn the best continuation.
"""
from typing import List, Optional, Sequence, Tuple

import numpy

from .state import StateBatch

SHIFT, REDUCE = 0, 1
UNKNOWN = -2  # gold head/label not annotated
GOLD_ROOT = -1
IS_START, NOT_START, UNKNOWN_START = 1, 0, -1  # gold sentence-start codes


class ArcEager:
    name = "parser"

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels: List[str] = [label for label in labels if label != "ROOT"]
        self.label_index = {label: i for i, label in enumerate(self.labels)}

    @property
    def n_actions(self) -> int:
        return 3 + 2 * len(self.labels)

    @property
    def break_action(self) -> int:
        return 2 + 2 * len(self.labels)

    def action_names(self) -> List[str]:
        return ["S", "D"] + [f"L-{l}" for l in self.labels] + [f"R-{l}" for l in self.labels] + ["B"]

    @staticmethod
    def n_features(extra_state_tokens: bool) -> int:
        return 13 if extra_state_tokens else 8

    # --- states ---------------------------------------------------------------------------
    def init_batch(self, lengths: Sequence[int], golds: Optional[Sequence[Tuple[numpy.ndarray, ...]]] = None) -> StateBatch:
        """States at the start of each doc; `golds` are `gold_arrays` results (heads, labels[, sentence starts])."""
        n = len(lengths)
        L = max(max(lengths, default=1), 1)
        arrays = {
            "doc": numpy.arange(n, dtype="int32"),
            "length": numpy.asarray(lengths, dtype="int32"),
            "b0": numpy.zeros((n,), dtype="int32"),
            "n_moves": numpy.zeros((n,), dtype="int32"),
            "move_limit": numpy.full((n,), numpy.iinfo("int32").max, dtype="int32"),
            "depth": numpy.zeros((n,), dtype="int32"),
            "stack": numpy.full((n, L + 1), -1, dtype="int32"),
            "in_stack": numpy.zeros((n, L), dtype=bool),
            "head": numpy.full((n, L), -1, dtype="int32"),
            "label": numpy.full((n, L), -1, dtype="int32"),
            "lchild": numpy.full((n, L, 2), -1, dtype="int32"),
            "rchild": numpy.full((n, L, 2), -1, dtype="int32"),
            "gold_head": numpy.full((n, L), UNKNOWN, dtype="int32"),
            "gold_label": numpy.full((n, L), UNKNOWN, dtype="int32"),
            "sent_start": numpy.zeros((n, L), dtype=bool),  # marked by BREAK
            "gold_sent": numpy.full((n, L), UNKNOWN_START, dtype="int8"),
        }
        if golds is not None:
            for row, gold in enumerate(golds):
                heads, labels = gold[0], gold[1]
                arrays["gold_head"][row, : len(heads)] = heads
                arrays["gold_label"][row, : len(labels)] = labels
                if len(gold) > 2:
                    arrays["gold_sent"][row, : len(gold[2])] = gold[2]
        return StateBatch(arrays)

    def gold_arrays(self, heads: Sequence[int], labels: Sequence[str], annotated: Sequence[bool],
                    sent_starts: Optional[Sequence[int]] = None) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """Gold heads (GOLD_ROOT for roots, UNKNOWN where not annotated), label indices and sentence starts.

        `heads`/`labels` must already be projectivised; labels unknown to the system are UNKNOWN.
        `sent_starts` uses Doc.sent_start's codes (1 start, -1 not, 0 unknown); without it, the
        starts are the left edges of the roots' subtrees when every head is annotated.
        """
        n = len(heads)
        gold_head = numpy.asarray(heads, dtype="int32").copy()
        gold_label = numpy.asarray([self.label_index.get(l, UNKNOWN) for l in labels], dtype="int32")
        is_root = gold_head == numpy.arange(n)
        gold_head[is_root] = GOLD_ROOT
        gold_label[is_root] = GOLD_ROOT
        missing = ~numpy.asarray(annotated, dtype=bool)
        gold_head[missing] = UNKNOWN
        gold_label[missing] = UNKNOWN
        if sent_starts is not None:
            codes = numpy.asarray(sent_starts, dtype="int8")
            gold_sent = numpy.where(codes == 1, IS_START, numpy.where(codes == -1, NOT_START, UNKNOWN_START))
        elif n and not missing.any():
            gold_sent = numpy.where(sentence_starts(numpy.asarray(heads)), IS_START, NOT_START)
        else:
            gold_sent = numpy.full((n,), UNKNOWN_START)
        return gold_head, gold_label, gold_sent.astype("int8")

    def view(self, batch: StateBatch, rows: numpy.ndarray) -> "_View":
        """The stack and buffer tokens of the given rows, computed once per step."""
        return _View(batch, rows)

    def features(self, batch: StateBatch, rows: numpy.ndarray, extra: bool = False, view=None) -> numpy.ndarray:
        """(n_rows, nF) doc-local token indices feeding the model; -1 where no token."""
        v = view or self.view(batch, rows)
        b1 = numpy.where(v.b0 + 1 < v.length, v.b0 + 1, -1)
        b0 = numpy.where(v.b0 < v.length, v.b0, -1)
        lc, rc = batch.lchild, batch.rchild
        columns = [b0, b1, v.s0, v.s1, v.s2, _child(lc, rows, b0, 0), _child(lc, rows, v.s0, 0),
                   _child(rc, rows, v.s0, 0)]
        if extra:
            columns += [_child(lc, rows, v.s0, 1), _child(rc, rows, v.s0, 1), _child(lc, rows, b0, 1),
                        _child(lc, rows, v.s1, 0), _child(rc, rows, v.s1, 0)]
        return numpy.stack(columns, axis=1)

    def valid(self, batch: StateBatch, rows: numpy.ndarray, view=None) -> numpy.ndarray:
        v = view or self.view(batch, rows)
        n_labels = len(self.labels)
        has_stack = v.s0 >= 0
        s0_has_head = has_stack & (batch.head[rows, v.s0c] >= 0)
        open_buffer = v.b0 < v.length
        b0_starts = open_buffer & v.b0_start
        out = numpy.empty((len(rows), self.n_actions), dtype=bool)
        out[:, SHIFT] = open_buffer & ~(has_stack & b0_starts)
        out[:, REDUCE] = s0_has_head | (has_stack & b0_starts)
        out[:, 2 : 2 + n_labels] = (has_stack & ~s0_has_head & open_buffer & ~b0_starts)[:, None]
        out[:, 2 + n_labels : 2 + 2 * n_labels] = (has_stack & open_buffer & ~b0_starts)[:, None]
        out[:, self.break_action] = v.can_break
        return out

    def costs(self, batch: StateBatch, rows: numpy.ndarray, view=None) -> numpy.ndarray:
        """Gold arcs each action makes unreachable (a wrong label on a gold arc costs 1)."""
        v = view or self.view(batch, rows)
        n_labels = len(self.labels)
        L = batch.in_stack.shape[1]
        s0, s0c, b0 = v.s0, v.s0c, v.b0
        b0c = numpy.minimum(b0, L - 1)
        G = batch.gold_head[rows]
        GL = batch.gold_label[rows]
        S = batch.in_stack[rows]
        positions = numpy.arange(L)[None, :]
        # Arcs into the buffer past the next marked sentence start are already out of reach.
        marked_ahead = batch.sent_start[rows] & (positions > b0[:, None])
        limit = numpy.where(marked_ahead.any(axis=1), marked_ahead.argmax(axis=1), v.length)
        in_buffer = (positions >= b0[:, None]) & (positions < limit[:, None])
        r = numpy.arange(len(rows))
        g_b0 = G[r, b0c]
        g_s0 = numpy.where(s0 >= 0, G[r, s0c], UNKNOWN)
        headless_in_stack = S & (batch.head[rows] < 0)
        deps_of_b0_in_stack = (headless_in_stack & (G == b0[:, None])).sum(axis=1)
        deps_of_s0_in_buffer = (in_buffer & (G == numpy.where(s0 >= 0, s0, -9)[:, None])).sum(axis=1)
        b0_head_in_stack = (g_b0 >= 0) & S[r, numpy.maximum(g_b0, 0)]
        costs = numpy.empty((len(rows), self.n_actions), dtype="float32")
        # Pushing b0 gives up marking b1 as a sentence start.
        b1c = numpy.minimum(b0 + 1, L - 1)
        missed_start = v.can_break & (batch.gold_sent[rows, b1c] == IS_START)
        costs[:, SHIFT] = b0_head_in_stack + deps_of_b0_in_stack + missed_start
        # At a marked start, popping loses nothing that is not already out of reach.
        costs[:, REDUCE] = numpy.where(v.b0_start & (b0 < v.length), 0, deps_of_s0_in_buffer)
        label_ids = numpy.arange(n_labels)[None, :]
        # A gold arc whose label is unknown accepts any label.
        gl_s0 = GL[r, s0c]
        left = deps_of_s0_in_buffer + (g_s0 > b0) + (g_s0 == GOLD_ROOT)
        left_label = ((g_s0 == b0) & (gl_s0 != UNKNOWN))[:, None] & (label_ids != gl_s0[:, None])
        costs[:, 2 : 2 + n_labels] = left[:, None] + left_label
        gl_b0 = GL[r, b0c]
        b0_head_elsewhere = (g_b0 >= 0) & (g_b0 != s0) & (b0_head_in_stack | (g_b0 > b0))
        right = b0_head_elsewhere + deps_of_b0_in_stack + (g_b0 == GOLD_ROOT)
        right_label = ((g_b0 == s0) & (gl_b0 != UNKNOWN))[:, None] & (label_ids != gl_b0[:, None])
        costs[:, 2 + n_labels : 2 + 2 * n_labels] = (right + missed_start)[:, None] + right_label
        # BREAK cuts every arc between b0 or a headless stack word and the rest of the buffer.
        rest = in_buffer & (positions > b0[:, None])
        holders = S | (positions == b0[:, None])
        open_holders = headless_in_stack | (positions == b0[:, None])
        heads_in_rest = (open_holders & (G > b0[:, None]) & (G < limit[:, None])).sum(axis=1)
        kids_in_rest = (rest & (G >= 0) & holders[r[:, None], numpy.maximum(G, 0)]).sum(axis=1)
        wrong_start = batch.gold_sent[rows, b1c] == NOT_START
        costs[:, self.break_action] = heads_in_rest + kids_in_rest + wrong_start
        return costs

    def apply(self, batch: StateBatch, rows: numpy.ndarray, actions: numpy.ndarray, view=None) -> None:
        v = view or self.view(batch, rows)
        n_labels = len(self.labels)
        s0, b0, depth = v.s0, v.b0, v.depth
        is_left = (actions >= 2) & (actions < 2 + n_labels)
        is_right = (actions >= 2 + n_labels) & (actions < 2 + 2 * n_labels)
        is_break = actions == self.break_action
        if is_break.any():
            batch.sent_start[rows[is_break], b0[is_break] + 1] = True
        label = numpy.where(is_left, actions - 2, actions - 2 - n_labels)
        # Arcs: left attaches s0 to b0, right attaches b0 to s0.
        for mask, dep, head, children in ((is_left, s0, b0, batch.lchild), (is_right, b0, s0, batch.rchild)):
            if mask.any():
                r, d, h = rows[mask], dep[mask], head[mask]
                batch.head[r, d] = h
                batch.label[r, d] = label[mask]
                children[r, h, 1] = children[r, h, 0]
                children[r, h, 0] = d
        # Reduce and left pop s0; shift and right push b0.
        pop = (actions == REDUCE) | is_left
        if pop.any():
            r = rows[pop]
            batch.in_stack[r, s0[pop]] = False
            batch.depth[r] = depth[pop] - 1
        push = (actions == SHIFT) | is_right
        if push.any():
            r = rows[push]
            batch.stack[r, depth[push]] = b0[push]
            batch.in_stack[r, b0[push]] = True
            batch.depth[r] = depth[push] + 1
            batch.b0[r] = b0[push] + 1
        batch.n_moves[rows] += 1

    def gold_segments(self, batch: StateBatch, sent_starts: Sequence[numpy.ndarray], max_tokens: int) -> StateBatch:
        """States for stretches of about `max_tokens` tokens, each starting at a sentence boundary
        in the state the oracle would have reached there (earlier sentences parsed as gold and
        popped, the start marked). Training on stretches keeps long docs from serialising the batch.
        """
        pieces = []
        n_rows, L = batch.head.shape
        for row in range(n_rows):
            length = int(batch.length[row])
            starts = numpy.flatnonzero(sent_starts[row][:length])
            cut_points = [0]
            for start in starts.tolist():
                if start - cut_points[-1] >= max_tokens:
                    cut_points.append(start)
            if len(cut_points) == 1:
                pieces.append(batch.take(numpy.asarray([row])))
                continue
            G = batch.gold_head[row, :length]
            GL = batch.gold_label[row, :length]
            known = G >= 0
            heads_full = numpy.where(known, G, -1)
            labels_full = numpy.where(known, GL, -1)
            lchild, rchild = _gold_children(heads_full, L)
            n = len(cut_points)
            seg = batch.take(numpy.full((n,), row))
            ends = cut_points[1:] + [length]
            for i, (start, end) in enumerate(zip(cut_points, ends)):
                seg.b0[i] = start
                # The buffer runs on to the doc's end, so the stretch's last sentence boundary is a
                # BREAK decision like any other; training stops after the stretch's moves instead
                # (two per word, one BREAK per sentence).
                seg.move_limit[i] = 2 * (end - start) + int(sent_starts[row][start:end].sum())
                seg.head[i, :start] = heads_full[:start]
                seg.label[i, :start] = labels_full[:start]
                seg.lchild[i, :start] = lchild[:start]
                seg.rchild[i, :start] = rchild[:start]
                # Earlier sentences are done: their roots popped, this start marked.
                seg.stack[i] = -1
                seg.in_stack[i] = False
                seg.depth[i] = 0
                seg.sent_start[i, start] = start > 0
            pieces.append(seg)
        return StateBatch.concat(pieces)

    def oracle_actions(self, batch: StateBatch, rows: numpy.ndarray) -> numpy.ndarray:
        """A zero-cost action per row, preferring arcs, then reduce, then shift."""
        view = self.view(batch, rows)
        costs = self.costs(batch, rows, view)
        valid = self.valid(batch, rows, view)
        preference = numpy.zeros((self.n_actions,), dtype="float32")
        preference[2:] = 2.0
        preference[REDUCE] = 1.0
        preference[self.break_action] = 0.5
        score = numpy.where(valid & (costs <= 0), preference[None, :], -1.0)
        fallback = numpy.where(valid, -costs, -numpy.inf)
        choice = numpy.where(score.max(axis=1) >= 0, score.argmax(axis=1), fallback.argmax(axis=1))
        return choice

    def finalize(self, batch: StateBatch, row: int) -> Tuple[numpy.ndarray, List[str]]:
        """Heads (roots point at themselves) and label strings for one row's doc."""
        n = int(batch.length[row])
        heads = batch.head[row, :n].copy()
        labels_idx = batch.label[row, :n]
        is_root = heads < 0
        heads[is_root] = numpy.arange(n)[is_root]
        labels = ["ROOT" if root else self.labels[i] for root, i in zip(is_root, labels_idx)]
        return heads, labels


class _View:
    """Stack/buffer positions of a set of rows, shared by features, valid, costs and apply."""

    __slots__ = ("b0", "length", "depth", "s0", "s1", "s2", "s0c", "b0_start", "can_break")

    def __init__(self, batch: StateBatch, rows: numpy.ndarray) -> None:
        self.b0 = batch.b0[rows]
        self.length = batch.length[rows]
        self.depth = depth = batch.depth[rows]
        top = batch.stack[rows[:, None], numpy.maximum(depth[:, None] - numpy.arange(1, 4)[None, :], 0)]
        top = numpy.where(depth[:, None] >= numpy.arange(1, 4)[None, :], top, -1)
        self.s0, self.s1, self.s2 = top[:, 0], top[:, 1], top[:, 2]
        self.s0c = numpy.maximum(self.s0, 0)
        L = batch.sent_start.shape[1]
        self.b0_start = batch.sent_start[rows, numpy.minimum(self.b0, L - 1)]
        has_b1 = self.b0 + 1 < self.length
        self.can_break = has_b1 & ~batch.sent_start[rows, numpy.minimum(self.b0 + 1, L - 1)]


def _child(children: numpy.ndarray, rows: numpy.ndarray, tokens: numpy.ndarray, k: int) -> numpy.ndarray:
    found = children[rows, numpy.maximum(tokens, 0), k]
    return numpy.where(tokens >= 0, found, -1)


def _gold_children(heads: numpy.ndarray, L: int):
    """Leftmost/second-leftmost and rightmost/second-rightmost dependents of every token."""
    lchild = numpy.full((L, 2), -1, dtype="int32")
    rchild = numpy.full((L, 2), -1, dtype="int32")
    deps = numpy.flatnonzero(heads >= 0)
    for side, table in ((deps[deps < heads[deps]], lchild), (deps[deps > heads[deps]], rchild)):
        if not len(side):
            continue
        h = heads[side]
        # Leftmost first for left dependents, rightmost first for right ones.
        order = numpy.lexsort((side if table is lchild else -side, h))
        side, h = side[order], h[order]
        first = numpy.ones(len(h), dtype=bool)
        first[1:] = h[1:] != h[:-1]
        table[h[first], 0] = side[first]
        second = numpy.zeros(len(h), dtype=bool)
        second[1:] = (~first[1:]) & first[:-1]
        table[h[second], 1] = side[second]
    return lchild, rchild


def sentence_starts(heads: numpy.ndarray) -> numpy.ndarray:
    """Sentence starts of a projective parse (roots point at themselves, or are GOLD_ROOT/-1):
    the left edge of every root's subtree."""
    n = len(heads)
    heads = numpy.where(numpy.asarray(heads) < 0, numpy.arange(n), heads)
    left = numpy.arange(n)
    for _ in range(n):
        updated = left.copy()
        numpy.minimum.at(updated, heads, left)
        if (updated == left).all():
            break
        left = updated
    starts = numpy.zeros((n,), dtype=bool)
    starts[left[heads == numpy.arange(n)]] = True
    return starts
