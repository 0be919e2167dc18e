"""Captioning layers and models: gradients, teacher forcing, decoding (greedy, sampled, beam), attention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import course_utils.captioning as cap
from course_utils.captioning import (
    CaptioningRNN, attention_in_boxes, beam_search, beam_decode, greedy_decode, sample_decode,
    word_embedding_backward, word_embedding_forward)
from course_utils.charrnn.gradcheck import check_gradients, numerical_gradient_array, rel_error_norm
from course_utils.data.captions import CaptionVocab
from course_utils.data.scenes import SceneObject
from course_utils.rnn import temporal_softmax_loss


def test_word_embedding_forward_backward():
    rng = np.random.default_rng(0)
    x = np.array([[0, 3, 1, 3], [2, 2, 0, 4]])
    W = rng.normal(size=(5, 3))
    out, cache = word_embedding_forward(x, W)
    assert out.shape == (2, 4, 3) and np.array_equal(out[1, 0], W[2])
    dout = rng.normal(size=out.shape)
    dW = word_embedding_backward(dout, cache)
    num = numerical_gradient_array(lambda: word_embedding_forward(x, W)[0], W, dout)
    assert rel_error_norm(dW, num) < 1e-9
    assert np.allclose(dW[3], dout[0, 1] + dout[0, 3])                 # a repeated word collects both
    with pytest.raises(TypeError):
        word_embedding_forward(x.astype(float), W)
    with pytest.raises(ValueError):
        word_embedding_forward(np.array([[5]]), W)


def test_temporal_softmax_loss_sanity_values():
    rng = np.random.default_rng(231)

    def check(N, T, V, p):
        x = 0.001 * rng.normal(size=(N, T, V))
        y = rng.integers(V, size=(N, T))
        mask = rng.random((N, T)) <= p
        return temporal_softmax_loss(x, y, mask)[0]

    assert check(100, 1, 10, 1.0) == pytest.approx(np.log(10), abs=0.01)
    assert check(100, 10, 10, 1.0) == pytest.approx(10 * np.log(10), abs=0.05)
    assert check(5000, 10, 10, 0.1) == pytest.approx(np.log(10), abs=0.05)


@pytest.mark.parametrize("cell,conditioning", list(itertools.product(["rnn", "lstm"], ["h0", "per_step", "both"])))
def test_numpy_model_gradients(cell, conditioning):
    rng = np.random.default_rng(1)
    m = CaptioningRNN(9, 6, wordvec_dim=4, hidden_dim=5, cell=cell, conditioning=conditioning, seed=2)
    features = rng.normal(size=(3, 6))
    captions = rng.integers(3, 9, size=(3, 7))
    captions[:, 0] = 1
    captions[0, 5:] = 0
    captions[1, 3:] = 0
    loss, grads = m.loss(features, captions)
    assert set(grads) == set(m.params)
    errors = check_gradients(lambda: m.loss(features, captions)[0], m.params, grads)
    assert max(errors.values()) < 1e-7, errors


def test_numpy_model_masks_null_and_shifts_by_one():
    rng = np.random.default_rng(0)
    m = CaptioningRNN(7, 4, wordvec_dim=3, hidden_dim=5, seed=0)
    f = rng.normal(size=(1, 4))
    caps = np.array([[1, 4, 5, 2, 0, 0]])
    loss_short, _ = m.loss(f, caps)
    loss_long, _ = m.loss(f, np.array([[1, 4, 5, 2, 0, 0, 0, 0]]))
    assert loss_short == pytest.approx(loss_long)                # <NULL> targets do not count
    # the loss is the negative log-likelihood of words 1.. given words ..T-1, step by step
    state = m.init_state(f)
    nll = 0.0
    for w, target in zip([1, 4, 5], [4, 5, 2]):
        logp, state, _ = m.step(np.array([w]), state)
        nll -= logp[0, target]
    assert loss_short == pytest.approx(nll)
    with pytest.raises(ValueError):
        m.loss(f, caps[0])
    with pytest.raises(ValueError):
        CaptioningRNN(5, 3, cell="gru")


def _adam_overfit(model, features, captions, steps=300, lr=1e-2):
    m = {k: np.zeros_like(v) for k, v in model.params.items()}
    v = {k: np.zeros_like(p) for k, p in model.params.items()}
    for t in range(1, steps + 1):
        loss, grads = model.loss(features, captions)
        for k, p in model.params.items():
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            p -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return loss


def test_numpy_model_overfits_and_decodes_its_training_captions():
    rng = np.random.default_rng(0)
    N, D, V, T = 8, 10, 12, 7
    features = rng.normal(size=(N, D))
    captions = np.zeros((N, T), dtype=np.int64)
    for n in range(N):
        L = int(rng.integers(2, 5))
        captions[n, 0], captions[n, 1:L + 1], captions[n, L + 1] = 1, rng.integers(3, V, size=L), 2
    model = CaptioningRNN(V, D, wordvec_dim=8, hidden_dim=32, cell="lstm", conditioning="both", seed=0)
    assert _adam_overfit(model, features, captions) < 0.05
    out = greedy_decode(model, features, T - 1)
    assert np.array_equal(out, captions[:, 1:])                  # words, <END>, then <NULL>
    for n in range(N):
        words, score = beam_search(model, features[n], width=3, max_length=T - 1)
        assert np.array_equal(words, captions[n, 1:][:len(words)]) and words[-1] == 2


def _random_model(seed, V=7):
    m = CaptioningRNN(V, 5, wordvec_dim=4, hidden_dim=6, cell="rnn", seed=seed)
    m.params = {k: v * 3 for k, v in m.params.items()}           # peaked distributions, <END> often
    m.params["b_vocab"][2] = 1.0
    return m


def _exhaustive_best(model, f, max_length):
    """Best caption by summed log-probability among all captions up to max_length words (small V)."""
    best = (-np.inf, None)
    state0 = model.init_state(f[None])
    frontier = [([], 0.0, state0)]
    V = model.params["W_vocab"].shape[1]
    for _ in range(max_length):
        new = []
        for words, score, state in frontier:
            logp, st, _ = model.step(np.array([words[-1] if words else 1]), state)
            for w in range(V):
                s = score + logp[0, w]
                if w == 2:
                    best = max(best, (s, words + [w]), key=lambda b: b[0])
                elif s > best[0]:
                    new.append((words + [w], s, st))
        frontier = new
    for words, score, _ in frontier:
        best = max(best, (score, words), key=lambda b: b[0])
    return best


@pytest.mark.parametrize("seed", range(6))
def test_beam_width_one_is_greedy_and_wide_beam_is_exact(seed):
    rng = np.random.default_rng(seed)
    m = _random_model(seed)
    f = rng.normal(size=5)
    g = greedy_decode(m, f[None], 6)[0]
    words, score = beam_search(m, f, width=1, max_length=6)
    assert np.array_equal(words, g[:len(words)]) and (len(words) == 6 or (g[len(words):] == 0).all())
    # score = sum of the log-probabilities of the words
    state, total = m.init_state(f[None]), 0.0
    for prev, w in zip([1, *words[:-1]], words):
        logp, state, _ = m.step(np.array([prev]), state)
        total += logp[0, w]
    assert score == pytest.approx(total)
    best_score, best_words = _exhaustive_best(m, f, 4)
    wide, wide_score = beam_search(m, f, width=7 ** 4, max_length=4)
    assert wide_score == pytest.approx(best_score) and list(wide) == best_words
    ranked = beam_search(m, f, width=3, max_length=6, return_all=True)
    assert [s for _, s in ranked] == sorted([s for _, s in ranked], reverse=True)
    assert ranked[0][1] >= score - 1e-12                          # a wider beam never finds worse
    with pytest.raises(ValueError):
        beam_search(m, f, width=0)


def test_sampling_temperature():
    m = _random_model(0)
    f = np.random.default_rng(0).normal(size=(200, 5))
    g = greedy_decode(m, f, 6)
    cold = sample_decode(m, f, 6, temperature=1e-4, rng=np.random.default_rng(1))
    assert np.array_equal(cold, g)
    hot = sample_decode(m, f, 6, temperature=5.0, rng=np.random.default_rng(1))
    assert (hot != g).mean() > 0.3
    again = sample_decode(m, f, 6, temperature=5.0, rng=np.random.default_rng(1))
    assert np.array_equal(hot, again)
    with pytest.raises(ValueError):
        sample_decode(m, f, 6, temperature=0)


@pytest.mark.parametrize("cell,conditioning,shape", [("lstm", "h0", (8, 4, 4)), ("rnn", "per_step", (8, 4, 4)),
                                                     ("lstm", "both", (8, 4, 4)), ("lstm", "first", (8, 4, 4)),
                                                     ("rnn", "first", (7,)), ("lstm", "h0", (7,)),
                                                     ("lstm", "none", (7,)), ("lstm", "state", (7,)),
                                                     ("rnn", "state", (8, 4, 4))])
def test_torch_model_matches_teacher_forcing_and_steps(cell, conditioning, shape):
    torch.manual_seed(0)
    m = cap.CaptionModel(11, shape, wordvec_dim=6, hidden_dim=10, cell=cell, conditioning=conditioning,
                         grid_channels=3, dropout=0.0)
    X = torch.randn(3, *shape)
    m.train()
    m(X, torch.ones(3, 2, dtype=torch.long))                      # fills the standardiser's running statistics
    m.eval()
    caps = torch.randint(3, 11, (3, 6))
    caps[:, 0] = 1
    caps[2, 4:] = 0
    scores = m(X, caps[:, :-1])
    state = m.init_state(X)
    for t in range(5):
        logp, state, _ = m.step(caps[:, t], state)
        assert torch.allclose(logp, torch.log_softmax(scores[:, t], 1), atol=1e-5)
    loss = m.loss(X, caps)
    manual = -torch.log_softmax(scores, 2).gather(2, caps[:, 1:, None])[..., 0][caps[:, 1:] != 0].sum() / 3
    assert torch.allclose(loss, manual, atol=1e-5)
    if conditioning != "none":
        with pytest.raises(ValueError):
            m(torch.randn(3, 8, 2, 2), caps)


def test_torch_model_image_paths():
    """Each conditioning reads the image where it says it does; the blind model never reads it."""
    torch.manual_seed(0)
    X, caps = torch.randn(4, 7) * 5 + 6, torch.tensor([[1, 3, 4, 2]] * 4)
    for conditioning in ("h0", "state", "first", "per_step", "both", "none"):
        m = cap.CaptionModel(6, (7,), wordvec_dim=4, hidden_dim=5, conditioning=conditioning, dropout=0.0)
        m.train()
        m(X, caps[:, :-1])
        m.eval()
        other = m(X.flip(0), caps[:, :-1])
        same = torch.allclose(m(X, caps[:, :-1]), other)
        assert same == (conditioning == "none"), conditioning
        names = {n.split(".")[0] for n, _ in m.named_parameters()}
        assert ("proj" in names) == (conditioning in ("h0", "both", "state"))
        assert ("cell_proj" in names) == (conditioning == "state")
        assert ("step_proj" in names) == (conditioning in ("per_step", "both"))
        assert ("first_proj" in names) == (conditioning == "first")
    # a raw code (mean about 6) is standardised before it reaches the recurrent cell
    m = cap.CaptionModel(6, (7,), conditioning="h0", dropout=0.0).train()
    m(X, caps[:, :-1])
    v = m.code(X)
    assert torch.allclose(v.mean(0), torch.zeros(7), atol=1e-5) and torch.allclose(v.std(0, unbiased=False),
                                                                                  torch.ones(7), atol=1e-3)
    raw = cap.CaptionModel(6, (7,), conditioning="h0", dropout=0.0, standardize=False).train()
    assert torch.equal(raw.code(X), X)                        # standardize=False: the code as it is
    with pytest.raises(ValueError, match="conditioning"):
        cap.CaptionModel(6, (7,), conditioning="every_step")


def test_attention_model_shapes_steps_and_training():
    torch.manual_seed(0)
    m = cap.AttentionCaptioner(9, feature_channels=5, grid_size=(4, 4), wordvec_dim=6, hidden_dim=12,
                               attention_dim=7, dropout=0.0)
    X = torch.randn(4, 5, 4, 4)
    caps = torch.tensor([[1, 3, 4, 2, 0], [1, 5, 2, 0, 0], [1, 6, 7, 8, 2], [1, 3, 2, 0, 0]])
    m.train()
    m(X, caps[:, :-1])                                            # fills the normaliser's statistics
    m.eval()
    scores, alphas = m(X, caps[:, :-1])
    assert scores.shape == (4, 4, 9) and alphas.shape == (4, 4, 16)
    assert torch.allclose(alphas.sum(2), torch.ones(4, 4), atol=1e-6)
    state = m.init_state(X)
    for t in range(4):
        logp, state, alpha = m.step(caps[:, t], state)
        assert torch.allclose(logp, torch.log_softmax(scores[:, t], 1), atol=1e-5)
        assert torch.allclose(alpha, alphas[:, t], atol=1e-6)
    out, att = greedy_decode(m, X, 5, return_attention=True)
    assert out.shape == (4, 5) and att.shape[0] == 4 and att.shape[2] == 16
    history = cap.train_captioner(m, X.numpy(), caps.numpy()[:, None, :], epochs=150, batch_size=4, lr=1e-2,
                                  device="cpu")
    assert history.loss[-1] < 0.1
    assert np.array_equal(greedy_decode(m, X, 4), caps[:, 1:].numpy())
    for n in range(4):
        words, _ = beam_search(m, X[n], width=2, max_length=4)
        assert np.array_equal(words, caps[n, 1:1 + len(words)].numpy())
    assert np.array_equal(beam_decode(m, X, 1, 4), greedy_decode(m, X, 4))
    with pytest.raises(ValueError):
        m(torch.randn(2, 5, 3, 3), caps[:2])


def test_attention_in_boxes():
    vocab = CaptionVocab.from_captions(["a seven and a two"])
    seven, two = vocab.word_to_idx["seven"], vocab.word_to_idx["two"]
    objects = [[SceneObject(7, (0, 0, 32, 32), "large"), SceneObject(2, (32, 32, 64, 64), "large")]]
    captions = np.array([[seven, two, vocab.word_to_idx["a"]]])
    alphas = np.zeros((1, 3, 4))
    alphas[0, 0] = [1, 0, 0, 0]                 # all on the top-left cell: inside the seven's box
    alphas[0, 1] = [0.25, 0.25, 0.25, 0.25]     # uniform for the two
    alphas[0, 2] = [0, 0, 0, 1]
    r = attention_in_boxes(alphas, captions, objects, vocab, canvas=64)
    assert r["words"] == 2 and np.allclose(r["mass"], [1.0, 0.25]) and np.allclose(r["uniform"], [0.25, 0.25])
    assert r["pointing"] == pytest.approx(0.5)    # the uniform map's argmax is cell 0, outside the two's box


def test_lab7_references_match_the_course_code():
    """The grader's references (lab 7) compute what course_utils.captioning computes."""
    from course_utils.grader.labs import lab07_image_captioning as lab
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(3, 4, 6)), rng.integers(6, size=(3, 4))
    mask = rng.random((3, 4)) < 0.6
    for a, b in zip(lab._load("temporal_softmax_loss")(x, y, mask), temporal_softmax_loss(x, y, mask)):
        assert np.allclose(a, b, atol=1e-12)
    H = 6
    m = CaptioningRNN(8, H, wordvec_dim=4, hidden_dim=H, cell="rnn", conditioning="h0", seed=4)
    m.params = {k: v * 2.5 for k, v in m.params.items()}
    m.params["W_proj"], m.params["b_proj"] = np.eye(H), np.zeros(H)           # h0 = the features
    params = {k: m.params[k] for k in ("W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab")}
    captions = np.array([[1, 4, 5, 2, 0], [1, 6, 2, 0, 0]])
    features = rng.normal(size=(2, H))
    assert lab._captioning_loss(features, captions, **{k: m.params[k] for k in
                                ("W_proj", "b_proj", "W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab")}) \
        == pytest.approx(m.loss(features, captions)[0])
    h0 = rng.normal(size=(5, H))
    assert np.array_equal(lab._greedy(h0, params, 7), greedy_decode(m, h0, 7))
    for n in range(5):
        for width in (1, 2, 4):
            words, score = lab._beam(h0[n], params, width, 7)
            ours, our_score = beam_search(m, h0[n], width=width, max_length=7)
            assert np.array_equal(words, ours) and score == pytest.approx(our_score)
