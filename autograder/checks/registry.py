"""Which checks grade which assignment."""
from __future__ import annotations

from .attention_basics import CHECKS as ATTENTION
from .tokens_positions import CHECKS as TOKENS_POSITIONS
from .spec import ChoiceCheck, PartCheck

REGISTRY: dict[str, dict[str, PartCheck | ChoiceCheck]] = {
    "a1-embeddings": TOKENS_POSITIONS,
    "a2-attention": ATTENTION,
}


def checks_for(assignment_id: str) -> dict[str, PartCheck | ChoiceCheck]:
    return REGISTRY.get(assignment_id, {})
