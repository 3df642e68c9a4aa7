"""Arc-eager dependency parsing with labelled arcs and a dynamic oracle, over a StateBatch.

spaCy's non-monotonic variant (Honnibal, Goldberg & Johnson 2013; Honnibal & Johnson 2015), so
that parses trained here behave like spaCy's:

- SHIFT, REDUCE, LEFT-label, RIGHT-label and BREAK. BREAK marks the second buffer word as a
  sentence start; no arc may cross it, so the stack must be emptied before it is shifted.
- REDUCE of a word without a head "unshifts" it (puts it back at the front of the buffer, not
  shiftable again) unless it is the last word on the stack, which is popped as a root. So a doc
  ends with an empty stack and every sentence gets one root, instead of leaving each unattached
  stack word as a root of its own (which over-segments).
- LEFT may replace a head already given by RIGHT, so early attachment mistakes can be repaired.
- SHIFT is not allowed for the last buffer word while the stack holds words.

Costs are spaCy's: the gold arcs (and gold sentence starts) an action gives up, counted over the
stack and the buffer up to the next marked sentence start, so training can follow the model's
own choices and still learn the best continuation. The buffer is the rebuffered (unshifted)
words, most recent first, then the words not yet shifted.
"""
from typing import List, Optional, Sequence, Tuple

import numpy

from .state import StateBatch

SHIFT, REDUCE = 0, 1
UNKNOWN = -2  # gold head/label not annotated
GOLD_ROOT = -1
IS_START, NOT_START, UNKNOWN_START = 1, 0, -1  # gold sentence-start codes
NO_ACTION_COST = 9000.0  # spaCy's cost for an action on an empty stack or buffer (never valid there)


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
            # Unshifts make the move count data-dependent; a cap far above any real parse's
            # (about 2 per word) guarantees every parse ends.
            "move_limit": 4 * numpy.asarray(lengths, dtype="int32") + 8,
            "depth": numpy.zeros((n,), dtype="int32"),
            "rebuffer": numpy.full((n, L), -1, dtype="int32"),  # unshifted words; the last is B0
            "n_rebuffer": numpy.zeros((n,), dtype="int32"),
            "unshiftable": numpy.zeros((n, L), dtype=bool),
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
        b0, b1 = v.b0, v.b1
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
        has_stack = v.depth > 0
        has_buffer = v.buffer_length > 0
        can_shift = has_buffer & (~has_stack | ((v.buffer_length >= 2) & ~v.b0_start & ~v.b0_unshiftable))
        can_attach = has_stack & has_buffer & ~v.b0_start
        out = numpy.empty((len(rows), self.n_actions), dtype=bool)
        out[:, SHIFT] = can_shift
        out[:, REDUCE] = has_stack
        out[:, 2 : 2 + 2 * n_labels] = can_attach[:, None]
        out[:, self.break_action] = v.can_break
        return out

    def costs(self, batch: StateBatch, rows: numpy.ndarray, view=None) -> numpy.ndarray:
        """spaCy's arc-eager costs: gold arcs (and sentence starts) each action gives up."""
        v = view or self.view(batch, rows)
        n_labels = len(self.labels)
        n, L = len(rows), batch.in_stack.shape[1]
        r = numpy.arange(n)
        s0, s1, b0, b1 = v.s0, v.s1, v.b0, v.b1
        s0c, b0c, b1c = v.s0c, numpy.maximum(b0, 0), numpy.maximum(b1, 0)
        G = batch.gold_head[rows]
        GL = batch.gold_label[rows]
        S = batch.in_stack[rows]
        B = self._cost_buffer(batch, rows, v)
        has_gold = G >= 0
        G_safe = numpy.maximum(G, 0)
        head_in_stack = has_gold & S[r[:, None], G_safe]
        head_in_buffer = has_gold & B[r[:, None], G_safe]
        stack_kids = S & has_gold
        buffer_kids = B & has_gold

        def kids_of(tokens: numpy.ndarray, among: numpy.ndarray) -> numpy.ndarray:
            return (among & (G == tokens[:, None])).sum(axis=1)

        s0_kids_in_stack = kids_of(s0, stack_kids)
        b0_kids_in_stack = kids_of(b0, stack_kids)
        s0_head_in_stack = head_in_stack[r, s0c]
        b0_head_in_stack = head_in_stack[r, b0c]
        missed_start = v.can_break & (batch.gold_sent[rows, b1c] == IS_START)
        push_cost = numpy.where(b0 < 0, NO_ACTION_COST, b0_head_in_stack + b0_kids_in_stack + missed_start)
        pop_cost = numpy.where(s0 < 0, NO_ACTION_COST, head_in_buffer[r, s0c] + kids_of(s0, buffer_kids))
        s0_has_head = (s0 >= 0) & (batch.head[rows, s0c] >= 0)
        # An unshifted word keeps its chance of arcs into the stack.
        saved_by_unshift = numpy.where(s0_has_head, 0, s0_head_in_stack + s0_kids_in_stack)
        costs = numpy.empty((n, self.n_actions), dtype="float32")
        costs[:, SHIFT] = push_cost
        costs[:, REDUCE] = numpy.where(v.b0_start, 0, pop_cost - saved_by_unshift)
        label_ids = numpy.arange(n_labels)[None, :]
        g_s0, gl_s0 = G[r, s0c], GL[r, s0c]
        # LEFT: losing s0's current head if it was gold, else s0's arcs into the stack.
        clobber = numpy.where(s0_has_head, (s1 >= 0) & (g_s0 == s1), s0_head_in_stack + s0_kids_in_stack)
        left_is_gold = (b0 >= 0) & (s0 >= 0) & (g_s0 == b0)
        left_wrong_label = (left_is_gold & (gl_s0 >= 0))[:, None] & (label_ids != gl_s0[:, None])
        left = pop_cost + clobber - left_is_gold
        costs[:, 2 : 2 + n_labels] = left[:, None] + left_wrong_label
        g_b0, gl_b0 = G[r, b0c], GL[r, b0c]
        right_is_gold = (b0 >= 0) & (s0 >= 0) & (g_b0 == s0)
        right_wrong_label = (right_is_gold & (gl_b0 >= 0))[:, None] & (label_ids != gl_b0[:, None])
        head_ahead = ~right_is_gold & head_in_buffer[r, b0c] & ~v.b0_unshiftable
        right = push_cost - right_is_gold + head_ahead
        costs[:, 2 + n_labels : 2 + 2 * n_labels] = right[:, None] + right_wrong_label
        # BREAK: every arc between the stack and the buffer past b0.
        crossing = (S & head_in_buffer).sum(axis=1) + (B & head_in_stack).sum(axis=1)
        crossing = crossing - b0_head_in_stack - b0_kids_in_stack
        wrong_start = batch.gold_sent[rows, b1c] == NOT_START
        costs[:, self.break_action] = crossing + wrong_start
        return costs

    @staticmethod
    def _cost_buffer(batch: StateBatch, rows: numpy.ndarray, v: "_View") -> numpy.ndarray:
        """(n_rows, L) membership of the buffer words reachable by arcs: the rebuffered words and
        then the unshifted ones, up to (not including) the first marked sentence start."""
        n, L = len(rows), batch.in_stack.shape[1]
        positions = numpy.arange(L)[None, :]
        marked = batch.sent_start[rows]
        fresh_marked = marked & (positions >= v.next_word[:, None])
        limit = numpy.where(fresh_marked.any(axis=1), fresh_marked.argmax(axis=1), v.length)
        B = (positions >= v.next_word[:, None]) & (positions < limit[:, None])
        n_rb = batch.n_rebuffer[rows]
        if n_rb.any():
            rb = batch.rebuffer[rows]
            k = numpy.arange(L)[None, :]
            present = k < n_rb[:, None]
            rb_safe = numpy.maximum(rb, 0)
            rb_marked = present & marked[numpy.arange(n)[:, None], rb_safe]
            # The buffer runs from the last rebuffered word down; it stops at the first marked one.
            cut = numpy.where(rb_marked.any(axis=1), L - 1 - rb_marked[:, ::-1].argmax(axis=1), -1)
            B &= (cut < 0)[:, None]
            keep = present & (k > cut[:, None])
            rr, kk = numpy.nonzero(keep)
            B[rr, rb[rr, kk]] = True
        return B

    def apply(self, batch: StateBatch, rows: numpy.ndarray, actions: numpy.ndarray, view=None) -> None:
        v = view or self.view(batch, rows)
        n_labels = len(self.labels)
        s0, b0, depth = v.s0, v.b0, v.depth
        is_left = (actions >= 2) & (actions < 2 + n_labels)
        is_right = (actions >= 2 + n_labels) & (actions < 2 + 2 * n_labels)
        is_break = actions == self.break_action
        if is_break.any():
            batch.sent_start[rows[is_break], v.b1[is_break]] = True
        label = numpy.where(is_left, actions - 2, actions - 2 - n_labels)
        if is_left.any():
            self._clear_heads(batch, rows[is_left], s0[is_left])
            # A word that becomes a head may be shifted again.
            batch.unshiftable[rows[is_left], b0[is_left]] = False
        # Arcs: left attaches s0 to b0, right attaches b0 to s0.
        for mask, dep, head, children in ((is_left, s0, b0, batch.lchild), (is_right, b0, s0, batch.rchild)):
            if mask.any():
                r, d, h = rows[mask], dep[mask], head[mask]
                batch.head[r, d] = h
                batch.label[r, d] = label[mask]
                children[r, h, 1] = children[r, h, 0]
                children[r, h, 0] = d
        # REDUCE pops s0, or unshifts it when it has no head and is not the stack's last word.
        is_reduce = actions == REDUCE
        unshift = is_reduce & (batch.head[rows, v.s0c] < 0) & (depth > 1)
        if unshift.any():
            r, w = rows[unshift], s0[unshift]
            batch.unshiftable[r, w] = True
            batch.rebuffer[r, batch.n_rebuffer[r]] = w
            batch.n_rebuffer[r] += 1
        pop = is_reduce | is_left
        if pop.any():
            r = rows[pop]
            batch.in_stack[r, s0[pop]] = False
            batch.depth[r] = depth[pop] - 1
        # SHIFT and RIGHT push b0: from the rebuffer if it has words, else the next word.
        push = (actions == SHIFT) | is_right
        if push.any():
            r, w = rows[push], b0[push]
            batch.stack[r, depth[push]] = w
            batch.in_stack[r, w] = True
            batch.depth[r] = depth[push] + 1
            from_rebuffer = v.n_rebuffer[push] > 0
            batch.n_rebuffer[r[from_rebuffer]] -= 1
            batch.b0[r[~from_rebuffer]] += 1
        batch.n_moves[rows] += 1

    @staticmethod
    def _clear_heads(batch: StateBatch, rows: numpy.ndarray, words: numpy.ndarray) -> None:
        """Undo the RIGHT arcs of `words` that LEFT is about to replace, and recompute the old
        heads' two rightmost children (a word on the stack is its head's rightmost child)."""
        old = batch.head[rows, words]
        had = old >= 0
        if not had.any():
            return
        r, w, h = rows[had], words[had], old[had]
        batch.head[r, w] = -1
        batch.label[r, w] = -1
        L = batch.head.shape[1]
        positions = numpy.arange(L)[None, :]
        kids = (batch.head[r] == h[:, None]) & (positions > h[:, None])
        ranked = numpy.where(kids, positions, -1)
        first = ranked.max(axis=1)
        ranked[numpy.arange(len(r)), numpy.maximum(first, 0)] = -1
        batch.rchild[r, h, 0] = first
        batch.rchild[r, h, 1] = numpy.where(first >= 0, ranked.max(axis=1), -1)

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
    """Stack and buffer words of a set of rows, shared by features, valid, costs and apply.

    `b0`/`b1` are the first two buffer words (rebuffered words first), -1 where none;
    `next_word` is the first word never shifted (the batch's `b0` field).
    """

    __slots__ = ("next_word", "length", "depth", "n_rebuffer", "buffer_length", "b0", "b1", "s0", "s1", "s2",
                 "s0c", "b0_start", "b0_unshiftable", "can_break")

    def __init__(self, batch: StateBatch, rows: numpy.ndarray) -> None:
        self.next_word = nxt = batch.b0[rows]
        self.length = length = batch.length[rows]
        self.depth = depth = batch.depth[rows]
        top = batch.stack[rows[:, None], numpy.maximum(depth[:, None] - numpy.arange(1, 4)[None, :], 0)]
        top = numpy.where(depth[:, None] >= numpy.arange(1, 4)[None, :], top, -1)
        self.s0, self.s1, self.s2 = top[:, 0], top[:, 1], top[:, 2]
        self.s0c = numpy.maximum(self.s0, 0)
        self.n_rebuffer = n_rb = batch.n_rebuffer[rows]
        self.buffer_length = length - nxt + n_rb
        fresh0 = numpy.where(nxt < length, nxt, -1)
        fresh1 = numpy.where(nxt + 1 < length, nxt + 1, -1)
        if n_rb.any():
            rb = batch.rebuffer[rows]
            r = numpy.arange(len(rows))
            last = rb[r, numpy.maximum(n_rb - 1, 0)]
            second = rb[r, numpy.maximum(n_rb - 2, 0)]
            self.b0 = numpy.where(n_rb >= 1, last, fresh0)
            self.b1 = numpy.where(n_rb >= 2, second, numpy.where(n_rb == 1, fresh0, fresh1))
        else:
            self.b0, self.b1 = fresh0, fresh1
        b0c, b1c = numpy.maximum(self.b0, 0), numpy.maximum(self.b1, 0)
        self.b0_start = (self.b0 >= 0) & batch.sent_start[rows, b0c]
        self.b0_unshiftable = (self.b0 >= 0) & batch.unshiftable[rows, b0c]
        self.can_break = (self.b1 >= 0) & (self.b1 == self.b0 + 1) & ~batch.sent_start[rows, b1c]


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
