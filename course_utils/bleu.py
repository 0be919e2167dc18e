"""Corpus BLEU (Papineni et al. 2002), the score image-captioning papers report as BLEU-1 ... BLEU-4.

For a corpus of hypotheses ``h_i`` (token lists), each with a list of reference token lists ``R_i``:

* modified n-gram precision, pooled over the corpus (not averaged per sentence)::

      p_n = sum_i sum_{g in ngrams_n(h_i)} min(count_{h_i}(g), max_{r in R_i} count_r(g))
            ----------------------------------------------------------------------------
                            sum_i |ngrams_n(h_i)|

  (each n-gram counts at most as often as it occurs in one reference: "the the the" earns no credit
  for repeating "the");
* brevity penalty, from the total hypothesis length ``c`` and the total *effective* reference length
  ``r`` (for each sentence the reference length closest to the hypothesis length, the shorter on a tie)::

      BP = 1 if c > r else exp(1 - r / c)

* ``BLEU-N = BP * exp( sum_{n=1..N} (1/N) log p_n )`` -- a geometric mean of p_1 .. p_N.

This is ``nltk.translate.bleu_score.corpus_bleu`` with uniform weights and no smoothing
(``tests/test_bleu.py`` checks agreement to 1e-6), with one difference: a hypothesis shorter than n words
has no n-grams and adds 0 to the denominator of p_n here, as in Papineni et al. and sacrebleu, where
nltk adds 1. When some ``p_n`` is zero BLEU-N is 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

__all__ = ["ngrams", "modified_precision", "brevity_penalty", "corpus_bleu", "bleu_scores"]

Tokens = Sequence[str]


def ngrams(tokens: Tokens, n: int) -> Counter:
    """The n-grams of a token list with their counts, e.g. ``ngrams("a b a b".split(), 2)`` ->
    ``{("a", "b"): 2, ("b", "a"): 1}``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check_corpus(references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens]) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists: one list per hypothesis")
    for i, (refs, hyp) in enumerate(zip(references, hypotheses)):
        if isinstance(hyp, str) or (refs and isinstance(refs[0], str)):
            raise TypeError(f"item {i}: pass token lists (e.g. caption.split()), not strings")
        if len(refs) == 0:
            raise ValueError(f"item {i}: a hypothesis needs at least one reference")


def modified_precision(references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens],
                       n: int) -> tuple[int, int]:
    """Corpus-level clipped n-gram matches and the number of hypothesis n-grams: ``(matches, total)``."""
    _check_corpus(references, hypotheses)
    matches = total = 0
    for refs, hyp in zip(references, hypotheses):
        counts = ngrams(hyp, n)
        max_ref: Counter = Counter()
        for ref in refs:
            max_ref |= ngrams(ref, n)                  # element-wise maximum over the references
        matches += sum(min(c, max_ref[g]) for g, c in counts.items())
        total += sum(counts.values())
    return matches, total


def brevity_penalty(references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens]) -> float:
    """``exp(1 - r/c)`` when the hypotheses are shorter in total than the closest references, else 1."""
    _check_corpus(references, hypotheses)
    c = sum(len(h) for h in hypotheses)
    r = sum(min((abs(len(ref) - len(h)), len(ref)) for ref in refs)[1] for refs, h in zip(references, hypotheses))
    if c == 0:
        return 0.0
    return 1.0 if c > r else math.exp(1 - r / c)


def corpus_bleu(references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens], max_n: int = 4) -> float:
    """BLEU-``max_n`` of a corpus.

    - references: for each hypothesis, a list of reference token lists
    - hypotheses: token lists (e.g. generated captions without ``<START>``/``<END>``)
    Returns a float in [0, 1].
    """
    if max_n < 1:
        raise ValueError(f"max_n must be at least 1, got {max_n}")
    log_sum = 0.0
    for n in range(1, max_n + 1):
        matches, total = modified_precision(references, hypotheses, n)
        if matches == 0 or total == 0:
            return 0.0
        log_sum += math.log(matches / total) / max_n
    return brevity_penalty(references, hypotheses) * math.exp(log_sum)


def bleu_scores(references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens],
                max_n: int = 4) -> dict[str, float]:
    """``{"BLEU-1": ..., ..., "BLEU-max_n": ...}``."""
    return {f"BLEU-{n}": corpus_bleu(references, hypotheses, n) for n in range(1, max_n + 1)}
