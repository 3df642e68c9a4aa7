"""Transition systems whose states for a whole batch live in arrays (one row per state)."""
from .arc_eager import ArcEager
from .biluo import BiluoPushDown

__all__ = ["ArcEager", "BiluoPushDown"]
