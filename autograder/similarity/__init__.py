"""Similarity between students' submissions of one assignment, on the code each student wrote: `similarity`
ranks the pairs, `write_similarity` writes reports/<assignment>/similarity.html, .csv and .json."""
from .compare import SimilarityResult, similarity, write_similarity
from .pairs import Pair, Span

__all__ = ["Pair", "SimilarityResult", "Span", "similarity", "write_similarity"]
