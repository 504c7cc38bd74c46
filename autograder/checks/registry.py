"""Which checks grade which assignment."""
from __future__ import annotations

from .attention import CHECKS as ATTENTION
from .tokens_positions import CHECKS as TOKENS_POSITIONS
from .transformer import CHECKS as TRANSFORMER
from .spec import ChoiceCheck, PartCheck

REGISTRY: dict[str, dict[str, PartCheck | ChoiceCheck]] = {
    "a1-embeddings": TOKENS_POSITIONS,
    "a2-attention": ATTENTION,
    "a3-transformer": TRANSFORMER,
}


def checks_for(assignment_id: str) -> dict[str, PartCheck | ChoiceCheck]:
    return REGISTRY.get(assignment_id, {})
