"""BILUO entity recognition as transitions, with a dynamic oracle, over a StateBatch.

Actions: OUT, then BEGIN/IN/LAST/UNIT for each label. Gold tags that are not annotated cost
nothing either way, so partially annotated docs train without teaching "O" for unknown tokens.
"""
from typing import List, Optional, Sequence, Tuple

import numpy

from .state import StateBatch

OUT = 0
BEGIN, IN, LAST, UNIT = 0, 1, 2, 3
GOLD_O = -1
UNKNOWN = -2


class BiluoPushDown:
    name = "ner"

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels: List[str] = list(labels)
        self.label_index = {label: i for i, label in enumerate(self.labels)}

    @property
    def n_actions(self) -> int:
        return 1 + 4 * len(self.labels)

    def action_names(self) -> List[str]:
        return ["O"] + [f"{m}-{l}" for l in self.labels for m in "BILU"]

    @staticmethod
    def n_features(extra_state_tokens: bool) -> int:
        return 6 if extra_state_tokens else 3

    def gold_codes(self, length: int, entities: Sequence[Tuple[int, int, str]], annotated: bool,
                   missing: Optional[numpy.ndarray] = None) -> numpy.ndarray:
        """Per-token gold code: 4*label+kind inside an entity, GOLD_O outside, UNKNOWN if unannotated."""
        codes = numpy.full((length,), GOLD_O if annotated else UNKNOWN, dtype="int32")
        for start, end, label in entities:
            index = self.label_index.get(label)
            if index is None:
                codes[start:end] = UNKNOWN
                continue
            base = 4 * index
            if end - start == 1:
                codes[start] = base + UNIT
            else:
                codes[start] = base + BEGIN
                codes[start + 1 : end - 1] = base + IN
                codes[end - 1] = base + LAST
        if missing is not None:
            codes[missing] = UNKNOWN
        return codes

    def init_batch(self, lengths: Sequence[int], golds: Optional[Sequence[numpy.ndarray]] = None) -> StateBatch:
        n = len(lengths)
        L = max(max(lengths, default=1), 1)
        arrays = {
            "doc": numpy.arange(n, dtype="int32"),
            "length": numpy.asarray(lengths, dtype="int32"),
            "b0": numpy.zeros((n,), dtype="int32"),
            "n_moves": numpy.zeros((n,), dtype="int32"),
            "open_start": numpy.full((n,), -1, dtype="int32"),
            "open_label": numpy.full((n,), -1, dtype="int32"),
            "consistent": numpy.zeros((n,), dtype=bool),
            "tags": numpy.full((n, L), -1, dtype="int32"),
            "gold": numpy.full((n, L), UNKNOWN, dtype="int32"),
        }
        if golds is not None:
            for row, codes in enumerate(golds):
                arrays["gold"][row, : len(codes)] = codes
        return StateBatch(arrays)

    def view(self, batch: StateBatch, rows: numpy.ndarray) -> None:
        return None

    def features(self, batch: StateBatch, rows: numpy.ndarray, extra: bool = False, view=None) -> numpy.ndarray:
        b0 = batch.b0[rows]
        length = batch.length[rows]
        e0 = batch.open_start[rows]

        def token(pos):
            return numpy.where((pos >= 0) & (pos < length), pos, -1)

        columns = [token(b0), e0, token(b0 - 1)]
        if extra:
            columns += [token(b0 + 1), numpy.where(e0 >= 1, e0 - 1, -1), token(b0 - 2)]
        return numpy.stack(columns, axis=1)

    def valid(self, batch: StateBatch, rows: numpy.ndarray, view=None) -> numpy.ndarray:
        n_labels = len(self.labels)
        b0 = batch.b0[rows]
        length = batch.length[rows]
        active = b0 < length
        is_open = batch.open_label[rows] >= 0
        not_last = b0 < length - 1
        same_label = batch.open_label[rows][:, None] == numpy.arange(n_labels)[None, :]
        out = numpy.zeros((len(rows), n_labels, 4), dtype=bool)
        out[:, :, BEGIN] = (active & ~is_open & not_last)[:, None]
        out[:, :, IN] = (active & not_last)[:, None] & same_label
        out[:, :, LAST] = active[:, None] & same_label
        out[:, :, UNIT] = (active & ~is_open)[:, None]
        valid = numpy.zeros((len(rows), self.n_actions), dtype=bool)
        valid[:, OUT] = active & ~is_open
        valid[:, 1:] = out.reshape((len(rows), -1))
        return valid

    def costs(self, batch: StateBatch, rows: numpy.ndarray, view=None) -> numpy.ndarray:
        n_labels = len(self.labels)
        L = batch.gold.shape[1]
        b0 = numpy.minimum(batch.b0[rows], L - 1)
        gold = batch.gold[rows, b0]
        unknown = gold == UNKNOWN
        kind = numpy.where(gold >= 0, gold % 4, -1)
        starts_entity = (kind == BEGIN) | (kind == UNIT)
        consistent = batch.consistent[rows]
        codes = 4 * numpy.arange(n_labels)[None, :]
        g = gold[:, None]
        per_label = numpy.zeros((len(rows), n_labels, 4), dtype="float32")
        per_label[:, :, BEGIN] = g != codes + BEGIN
        per_label[:, :, UNIT] = g != codes + UNIT
        # Continuing or closing an entity that already went wrong only loses a gold entity
        # starting here; a still-correct one must follow the gold tags exactly.
        wrong = starts_entity.astype("float32")[:, None]
        per_label[:, :, IN] = numpy.where(consistent[:, None], g != codes + IN, wrong)
        per_label[:, :, LAST] = numpy.where(consistent[:, None], g != codes + LAST, wrong)
        costs = numpy.zeros((len(rows), self.n_actions), dtype="float32")
        costs[:, OUT] = starts_entity
        costs[:, 1:] = per_label.reshape((len(rows), -1))
        costs[unknown] = 0.0
        return costs

    def apply(self, batch: StateBatch, rows: numpy.ndarray, actions: numpy.ndarray, view=None) -> None:
        L = batch.gold.shape[1]
        b0 = batch.b0[rows]
        gold = batch.gold[rows, numpy.minimum(b0, L - 1)]
        label = (actions - 1) // 4
        kind = numpy.where(actions > 0, (actions - 1) % 4, -1)
        batch.tags[rows, b0] = actions
        begins = kind == BEGIN
        if begins.any():
            r = rows[begins]
            batch.open_start[r] = b0[begins]
            batch.open_label[r] = label[begins]
            batch.consistent[r] = gold[begins] == actions[begins] - 1
        inside = kind == IN
        if inside.any():
            r = rows[inside]
            batch.consistent[r] &= (gold[inside] == actions[inside] - 1) | (gold[inside] == UNKNOWN)
        closes = (kind == LAST) | (kind == UNIT)
        if closes.any():
            r = rows[closes]
            batch.open_start[r] = -1
            batch.open_label[r] = -1
            batch.consistent[r] = False
        batch.b0[rows] = b0 + 1
        batch.n_moves[rows] += 1

    def gold_segments(self, batch: StateBatch, sent_starts: Sequence[numpy.ndarray], max_tokens: int) -> StateBatch:
        """One state per stretch of about `max_tokens` tokens, cut at sentence starts (entities
        never cross them), so long docs do not serialise the batch."""
        rows, begins, ends = [], [], []
        for row in range(len(batch)):
            length = int(batch.length[row])
            cut_points = [0]
            for start in numpy.flatnonzero(sent_starts[row][:length]).tolist():
                if start - cut_points[-1] >= max_tokens:
                    cut_points.append(start)
            rows.extend([row] * len(cut_points))
            begins.extend(cut_points)
            ends.extend(cut_points[1:] + [length])
        segments = batch.take(numpy.asarray(rows))
        segments.b0[:] = begins
        segments.length[:] = ends
        return segments

    def oracle_actions(self, batch: StateBatch, rows: numpy.ndarray) -> numpy.ndarray:
        costs = self.costs(batch, rows)
        valid = self.valid(batch, rows)
        # Prefer OUT among free actions so unknown stretches produce no invented entities.
        score = numpy.where(valid, -costs, -numpy.inf)
        score[:, OUT] += 0.5 * (score[:, OUT] > -numpy.inf)
        return score.argmax(axis=1)

    def finalize(self, batch: StateBatch, row: int) -> List[Tuple[int, int, str]]:
        """Entities (start, end, label) decoded from the row's tag actions."""
        n = int(batch.length[row])
        tags = batch.tags[row, :n]
        entities = []
        start = None
        for i, action in enumerate(tags.tolist()):
            if action <= 0:
                start = None
                continue
            label, kind = (action - 1) // 4, (action - 1) % 4
            if kind == UNIT:
                entities.append((i, i + 1, self.labels[label]))
                start = None
            elif kind == BEGIN:
                start = i
            elif kind == LAST and start is not None:
                entities.append((start, i + 1, self.labels[label]))
                start = None
        return entities
