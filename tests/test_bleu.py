"""Corpus BLEU-1..4 agrees with nltk's corpus_bleu on the same tokens; edge cases behave."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.bleu import brevity_penalty, bleu_scores, corpus_bleu, modified_precision, ngrams

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")


def _random_corpus(rng, n=40, vocab=12):
    words = [f"w{i}" for i in range(vocab)]
    refs, hyps = [], []
    for _ in range(n):
        base = list(rng.choice(words, size=int(rng.integers(4, 12))))
        refs.append([[w if rng.random() > 0.3 else str(rng.choice(words)) for w in base]
                     for _ in range(int(rng.integers(1, 5)))])
        # at least 4 words: nltk counts a hypothesis without any n-gram as 1 n-gram (see the test below)
        hyps.append([w if rng.random() > 0.25 else str(rng.choice(words)) for w in base[:int(rng.integers(4, len(base) + 1))]])
    return refs, hyps


@pytest.mark.parametrize("seed", range(5))
def test_matches_nltk_corpus_bleu(seed):
    refs, hyps = _random_corpus(np.random.default_rng(seed))
    for n in range(1, 5):
        ours = corpus_bleu(refs, hyps, n)
        theirs = nltk_bleu.corpus_bleu(refs, hyps, weights=tuple([1.0 / n] * n))
        assert ours > 0
        assert abs(ours - theirs) < 1e-6, (n, ours, theirs)


def test_matches_nltk_on_captions():
    refs = [["a large seven at the top left".split(), "a big seven in the top left corner".split()],
            ["two digits : a small two on the left and a big five at the right".split()]]
    hyps = ["a large seven in the top left".split(), "two digits : a small two on the left and a big five".split()]
    for n in range(1, 5):
        assert abs(corpus_bleu(refs, hyps, n) - nltk_bleu.corpus_bleu(refs, hyps, weights=tuple([1.0 / n] * n))) < 1e-6


def test_clipping_brevity_and_perfect_match():
    refs = [["the cat is on the mat".split()]]
    assert modified_precision(refs, ["the the the the".split()], 1) == (2, 4)       # "the" clipped at 2
    assert corpus_bleu(refs, [refs[0][0]]) == pytest.approx(1.0)
    short = ["the cat".split()]
    assert brevity_penalty(refs, short) == pytest.approx(math.exp(1 - 6 / 2))
    assert corpus_bleu(refs, short, 1) == pytest.approx(math.exp(1 - 3))
    assert ngrams("a b a b".split(), 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert set(bleu_scores(refs, short, 4)) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"}


def test_hypotheses_shorter_than_n():
    """A 2-word hypothesis has no 3-grams: it adds 0 to p_3's denominator here (Papineni et al., sacrebleu);
    nltk adds max(1, 0) = 1, so on such corpora nltk's BLEU-3/4 is a little lower."""
    refs = [["a b c d".split()], ["e f g h".split()]]
    hyps = ["a b c d".split(), "e f".split()]
    assert modified_precision(refs, hyps, 3) == (2, 2)
    ours, theirs = corpus_bleu(refs, hyps, 3), nltk_bleu.corpus_bleu(refs, hyps, weights=(1 / 3,) * 3)
    assert ours > theirs


def test_zero_matches_and_bad_input():
    refs = [["a b c d".split()]]
    assert corpus_bleu(refs, ["x y z w".split()]) == 0.0
    assert corpus_bleu(refs, ["a b".split()], 4) == 0.0           # no 3-grams at all
    with pytest.raises(ValueError):
        corpus_bleu(refs, [], 4)
    with pytest.raises(TypeError):
        corpus_bleu([["a b c"]], ["a b c"], 2)
    with pytest.raises(ValueError):
        corpus_bleu(refs, ["a".split()], 0)


def _lab7_judged(question_id, fn, seed=11):
    """(failed cases, messages) of ``fn`` on lab 7's hidden cases of one question, judged as the grader does."""
    import copy

    from course_utils.grader.labs import lab07_image_captioning as lab
    question = next(q for q in lab.LAB.questions if q.id == question_id)
    failed, messages = 0, []
    for case in question.make_cases(np.random.default_rng(seed)):
        answers = []
        for call in lab._subcases(case):                 # a paired case is two calls, judged together
            kwargs = copy.deepcopy(call.kwargs)
            out = fn(**kwargs)
            answers.append((out, {k: kwargs[k] for k in call.returns_kwargs}) if call.returns_kwargs else out)
        got = answers if case.func == "grader_calls" else answers[0]
        ok, msg = question.compare(got, question.reference(case), case)
        failed += not ok
        messages += [] if ok else [msg]
    return failed, messages


def test_lab7_q7_catches_the_shortest_reference_length_with_a_hint():
    """The brevity penalty from the shortest reference (not the closest) loses points on q7, with a hint
    that names the mistake and no hidden value."""
    def shortest(references, hypotheses, max_n=4):
        c = sum(len(h) for h in hypotheses)
        r = sum(min(len(ref) for ref in refs) for refs in references)
        bp = 1.0 if c > r else np.exp(1 - r / c)
        return bp * corpus_bleu(references, hypotheses, max_n) / brevity_penalty(references, hypotheses)

    failed, messages = _lab7_judged("q7", shortest)
    assert failed >= 3
    assert all("shortest reference" in m for m in messages)
    assert not any(ch.isdigit() for m in messages for ch in m.split("hint:")[1])
    assert _lab7_judged("q7", lambda references, hypotheses, max_n=4: corpus_bleu(references, hypotheses, max_n))[0] == 0


def test_lab7_in_place_changes_of_inputs_lose_points():
    from course_utils.rnn import temporal_softmax_loss

    def shifts_x(x, y, mask):
        x -= x.max(axis=2, keepdims=True)
        return temporal_softmax_loss(x, y, mask)

    failed, messages = _lab7_judged("q3", shifts_x)
    assert failed >= 4 and all("`x` changed in place" in m for m in messages)
