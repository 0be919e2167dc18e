"""Image captioning (unit 7): a CNN encodes the image, a recurrent network writes the caption.

Row-vector convention of :mod:`course_utils.rnn`: a minibatch of N examples has one example per row.
A caption is a row of word ids ``<START> w_1 ... w_L <END> <NULL> ...`` (``<NULL>`` = 0 pads it to T
tokens, see :mod:`course_utils.data.captions`). **Teacher forcing**: the decoder reads
``captions[:, :-1]`` and is scored on predicting ``captions[:, 1:]``, the same sequence shifted by one;
positions whose target is ``<NULL>`` are masked out of the loss.

The image code ``v`` (N, D) enters in one of these ways:

* ``"h0"``: the initial hidden state ``h_0 = v W_proj + b_proj`` (cs231n's captioning RNN). The first
  step then computes ``x_1 Wx + h_0 Wh = x_1 Wx + v (W_proj Wh) + b_proj Wh``: the slides' image term
  ``W_ih v``, which they add at the **first step only**, with ``W_ih`` factored as ``W_proj Wh``;
* ``"per_step"``: the image term at **every** step, ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + W_ih v)``
  (a variant Show and Tell tried and found worse: it let the network exploit noise in the image and
  overfit). In the row convention that is ``x_t Wx + h_{t-1} Wh + v W_img + b =
  [x_t, v] [Wx; W_img] + h_{t-1} Wh + b``, so it is an RNN (or LSTM) run on the inputs ``[x_t, v]``:
  the layers of :mod:`course_utils.rnn` and :mod:`course_utils.lstm` are reused unchanged;
* (PyTorch only) ``"state"``: ``h_0`` and, for an LSTM, the cell ``c_0`` from the image; ``"first"``:
  Show and Tell's own choice, the image projected to a word-sized vector
  and fed as the network's **first input**, before ``<START>``; and ``"none"``: no image, a language
  model of captions (the blind baseline every captioner should beat on facts).

Contents:

* NumPy layers: :func:`word_embedding_forward` / :func:`word_embedding_backward` (the temporal affine
  layer and the masked temporal softmax loss are in :mod:`course_utils.rnn`).
* :class:`CaptioningRNN` -- the NumPy model (vanilla RNN or LSTM), ``loss`` returns exact gradients.
* :class:`CaptionModel` (PyTorch, any device; every conditioning above, on a standardised code or grid)
  and :class:`AttentionCaptioner` (soft attention over the CNN's feature grid, Show, Attend and Tell);
  :func:`train_captioner` trains either with teacher forcing.
* Decoding for every model above: :func:`greedy_decode`, :func:`sample_decode` (temperature),
  :func:`beam_search` / :func:`beam_decode`; :func:`caption_strings` turns ids into text.
* :func:`scene_features` -- the frozen scenes CNN's feature grid for a stack of images.
* :func:`attention_in_boxes` -- how much attention falls inside the box of the digit a word names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import lstm as np_lstm
from . import rnn as np_rnn

__all__ = [
    "word_embedding_forward", "word_embedding_backward", "log_softmax",
    "CaptioningRNN", "CaptionModel", "AttentionCaptioner", "train_captioner", "caption_loss_torch",
    "greedy_decode", "sample_decode", "beam_search", "beam_decode", "caption_strings",
    "scene_features", "attention_in_boxes",
]

NULL, START, END = 0, 1, 2
CELLS = ("rnn", "lstm")
CONDITIONINGS = ("h0", "per_step", "both")
TORCH_CONDITIONINGS = CONDITIONINGS + ("state", "first", "none")


# ---------------------------------------------------------------- NumPy layers

def word_embedding_forward(x: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Look up the vector of every word id.

    Inputs:
    - x: (N, T) integer word ids in 0..V-1
    - W: (V, D) one D-dimensional vector per word

    Returns:
    - out: (N, T, D) with ``out[n, t] = W[x[n, t]]``
    - cache: ``(x, W.shape)``
    """
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(f"word ids must be integers, got dtype {x.dtype}")
    if W.ndim != 2:
        raise ValueError(f"W must have shape (V, D), got {W.shape}")
    if x.size and (x.min() < 0 or x.max() >= W.shape[0]):
        raise ValueError(f"word ids must lie in 0..{W.shape[0] - 1}, got {x.min()}..{x.max()}")
    return W[x], (x, W.shape)


def word_embedding_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`word_embedding_forward`.

    Inputs: dout (N, T, D) upstream gradient; cache from the forward pass.
    Returns dW (V, D): row v is the sum of ``dout[n, t]`` over all positions with ``x[n, t] == v``
    (a word used twice gets both gradients: ``np.add.at``, not ``dW[x] = dout``).
    """
    x, shape = cache
    dW = np.zeros(shape, dtype=dout.dtype)
    np.add.at(dW, x, dout)
    return dW


def log_softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """``scores - log(sum(exp(scores)))`` along ``axis``, computed without overflow."""
    shifted = scores - scores.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# ---------------------------------------------------------------- the NumPy captioning model

class CaptioningRNN:
    """A captioning model in NumPy: image code -> vanilla RNN or LSTM -> word scores.

    - vocab_size: V; input_dim: D (size of the image code v); wordvec_dim: W; hidden_dim: H
    - cell: ``"rnn"`` or ``"lstm"`` (k = 1 or 4 blocks of H in the recurrent weights)
    - conditioning: ``"h0"`` (h_0 = v W_proj + b_proj: the slides' image term at the first step),
      ``"per_step"`` (+ v W_img at every step, h_0 = 0) or ``"both"``

    Parameters (``self.params``): W_embed (V, W); W_proj (D, H), b_proj (H,) [h0]; W_img (D, kH) [per_step];
    Wx (W, kH), Wh (H, kH), b (kH,); W_vocab (H, V), b_vocab (V,). float64 by default (gradient checks).
    """

    def __init__(self, vocab_size: int, input_dim: int, wordvec_dim: int = 32, hidden_dim: int = 64,
                 cell: str = "rnn", conditioning: str = "h0", seed: int = 0, dtype: Any = np.float64,
                 null: int = NULL, start: int = START, end: int = END) -> None:
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        self.cell, self.conditioning = cell, conditioning
        self.null, self.start, self.end = null, start, end
        V, D, W, H = vocab_size, input_dim, wordvec_dim, hidden_dim
        k = 4 if cell == "lstm" else 1
        rng = np.random.default_rng(seed)
        p = {"W_embed": rng.normal(0, 1, (V, W)) / 10}
        if conditioning in ("h0", "both"):
            p["W_proj"] = rng.normal(0, 1, (D, H)) / np.sqrt(D)
            p["b_proj"] = np.zeros(H)
        if conditioning in ("per_step", "both"):
            p["W_img"] = rng.normal(0, 1, (D, k * H)) / np.sqrt(D)
        p["Wx"] = rng.normal(0, 1, (W, k * H)) / np.sqrt(W)
        p["Wh"] = rng.normal(0, 1, (H, k * H)) / np.sqrt(H)
        p["b"] = np.zeros(k * H)
        p["W_vocab"] = rng.normal(0, 1, (H, V)) / np.sqrt(H)
        p["b_vocab"] = np.zeros(V)
        self.params = {name: a.astype(dtype) for name, a in p.items()}

    @property
    def hidden_dim(self) -> int:
        return self.params["Wh"].shape[0]

    def _inputs(self, features: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """h0 (N, H), the recurrent layer's inputs (N, T, W[+D]) and its input weights."""
        p = self.params
        N, H = features.shape[0], self.hidden_dim
        h0 = features @ p["W_proj"] + p["b_proj"] if "W_proj" in p else np.zeros((N, H), dtype=features.dtype)
        if "W_img" not in p:
            return h0, x, p["Wx"]
        v = np.broadcast_to(features[:, None, :], (N, x.shape[1], features.shape[1]))
        return h0, np.concatenate([x, v], axis=2), np.vstack([p["Wx"], p["W_img"]])

    def loss(self, features: np.ndarray, captions: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Teacher-forced loss and gradients.

        Inputs:
        - features: (N, D) image codes
        - captions: (N, T) word ids, ``<START> ... <END> <NULL> ...``

        Returns ``(loss, grads)``: the softmax loss summed over time steps whose target is not
        ``<NULL>`` and averaged over the N captions; grads has the keys of ``self.params``.
        """
        if features.ndim != 2 or captions.ndim != 2 or features.shape[0] != captions.shape[0]:
            raise ValueError(f"expected features (N, D) and captions (N, T), got {features.shape} and {captions.shape}")
        p = self.params
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]     # read word t, predict word t+1
        mask = captions_out != self.null
        x, cache_embed = word_embedding_forward(captions_in, p["W_embed"])
        h0, inputs, Wx_all = self._inputs(features, x)
        if self.cell == "rnn":
            h, cache_rnn = np_rnn.rnn_forward(inputs, h0, Wx_all, p["Wh"], p["b"])
        else:
            h, cache_rnn = np_lstm.lstm_forward(inputs, h0, Wx_all, p["Wh"], p["b"])
        scores, cache_aff = np_rnn.temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
        loss, dscores = np_rnn.temporal_softmax_loss(scores, captions_out, mask)

        grads: dict[str, np.ndarray] = {}
        dh, grads["W_vocab"], grads["b_vocab"] = np_rnn.temporal_affine_backward(dscores, cache_aff)
        if self.cell == "rnn":
            dinputs, dh0, dWx_all, grads["Wh"], grads["b"] = np_rnn.rnn_backward(dh, cache_rnn)
        else:
            dinputs, dh0, _, dWx_all, grads["Wh"], grads["b"] = np_lstm.lstm_backward(dh, cache_rnn)
        Wdim = p["W_embed"].shape[1]
        grads["Wx"] = dWx_all[:Wdim]
        if "W_img" in p:
            grads["W_img"] = dWx_all[Wdim:]
        grads["W_embed"] = word_embedding_backward(dinputs[:, :, :Wdim], cache_embed)
        if "W_proj" in p:
            grads["W_proj"] = features.T @ dh0
            grads["b_proj"] = dh0.sum(axis=0)
        return loss, grads

    # decoding interface (see greedy_decode / beam_search)
    def init_state(self, features: np.ndarray) -> tuple[np.ndarray, ...]:
        """Decoding state ``(h, c, v)`` for a batch of image codes (N, D); c is unused by the RNN."""
        features = np.asarray(features, dtype=self.params["Wh"].dtype)
        h0, _, _ = self._inputs(features, np.zeros((features.shape[0], 1, self.params["W_embed"].shape[1])))
        return h0, np.zeros_like(h0), features

    def step(self, words: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, tuple, None]:
        """One decoding step: words (B,) -> log-probabilities of the next word (B, V), the new state."""
        p = self.params
        h, c, v = state
        x = p["W_embed"][words]
        Wx_all = p["Wx"]
        if "W_img" in p:
            x, Wx_all = np.concatenate([x, v], axis=1), np.vstack([p["Wx"], p["W_img"]])
        if self.cell == "rnn":
            h, _ = np_rnn.rnn_step_forward(x, h, Wx_all, p["Wh"], p["b"])
        else:
            h, c, _ = np_lstm.lstm_step_forward(x, h, c, Wx_all, p["Wh"], p["b"])
        return log_softmax(h @ p["W_vocab"] + p["b_vocab"]), (h, c, v), None


# ---------------------------------------------------------------- PyTorch models

def _torch():
    import torch
    return torch


def _make_torch_classes():
    torch = _torch()
    from torch import nn

    class CaptionModel(nn.Module):
        """The captioning model without attention in PyTorch (any device), trained with teacher forcing.

        - vocab_size: V; feature_shape: ``(D,)`` for an image code (e.g. the CNN's pooled code) or
          ``(C, h, w)`` for a CNN feature grid, which a 1x1 convolution reduces to ``grid_channels`` channels
          before it is flattened into v. Either is first **standardised** per feature (per channel for a
          grid) with batch statistics in training and running statistics at test time (``BatchNorm``
          without learned scale): raw CNN activations (the scenes CNN's code has mean about 6 and maxima
          above 30) are far from the unit scale the weights are initialised for, and a decoder trained on them
          learned to ignore the image (unit 7's data, 3 epochs: fact F1 0.10, the blind baseline's level).
          ``standardize=False`` feeds them raw, to see it.
        - cell: ``"rnn"`` (tanh) or ``"lstm"``
        - conditioning, how the image code v enters:

          * ``"h0"``: ``h_0 = v W_proj + b_proj`` (cs231n's captioning RNN). The first step then computes
            ``x_1 W_x + h_0 W_h = x_1 W_x + v (W_proj W_h) + ...``: the slides' image term ``W_ih v``
            added at the first step only, with ``W_ih`` factored as ``W_proj W_h``;
          * ``"state"``: the image sets the whole initial state: ``h_0`` as ``"h0"`` and, for an LSTM, the
            cell ``c_0 = v W_cell + b_cell`` as well (the cell is the LSTM's long-term memory: what it must
            keep about the image until the words that need it);
          * ``"first"``: Show and Tell (Vinyals et al. 2015): ``v W_first`` (a word-sized vector) is the
            network's first input, from a zero state, before ``<START>``; its output is not scored;
          * ``"per_step"``: ``v W_step`` (size H) is concatenated to every word vector, so the image term
            enters at every step (``W_ih`` = ``W_step`` times the cell's input weights), h_0 = 0;
          * ``"both"``: ``"h0"`` and ``"per_step"``;
          * ``"none"``: no image at all -- a language model of captions, the **blind baseline** (it
            accepts features only to know the batch size).

        Shapes: features (N, *feature_shape), captions_in (N, T) -> scores (N, T, V).
        """

        def __init__(self, vocab_size: int, feature_shape: Sequence[int], wordvec_dim: int = 64,
                     hidden_dim: int = 256, cell: str = "lstm", conditioning: str = "h0",
                     grid_channels: int = 16, dropout: float = 0.1, null: int = NULL,
                     standardize: bool = True) -> None:
            super().__init__()
            if cell not in CELLS:
                raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
            if conditioning not in TORCH_CONDITIONINGS:
                raise ValueError(f"conditioning must be one of {TORCH_CONDITIONINGS}, got {conditioning!r}")
            self.cell, self.conditioning, self.null = cell, conditioning, null
            self.feature_shape = tuple(int(s) for s in feature_shape)
            if len(self.feature_shape) == 3:
                C, gh, gw = self.feature_shape
                self.reduce = nn.Sequential(nn.BatchNorm2d(C, affine=False) if standardize else nn.Identity(),
                                            nn.Conv2d(C, grid_channels, 1), nn.ReLU())
                D = grid_channels * gh * gw
            elif len(self.feature_shape) == 1:
                D = self.feature_shape[0]
                self.reduce = nn.BatchNorm1d(D, affine=False) if standardize else nn.Identity()
            else:
                raise ValueError(f"feature_shape must be (D,) or (C, h, w), got {feature_shape}")
            self.drop = nn.Dropout(dropout)
            self.proj = nn.Linear(D, hidden_dim) if conditioning in ("h0", "both", "state") else None
            self.cell_proj = nn.Linear(D, hidden_dim) if conditioning == "state" and cell == "lstm" else None
            self.step_proj = nn.Linear(D, hidden_dim) if conditioning in ("per_step", "both") else None
            self.first_proj = nn.Linear(D, wordvec_dim) if conditioning == "first" else None
            self.embed = nn.Embedding(vocab_size, wordvec_dim)
            in_dim = wordvec_dim + (hidden_dim if self.step_proj is not None else 0)
            self.rnn = (nn.LSTM if cell == "lstm" else nn.RNN)(in_dim, hidden_dim, batch_first=True)
            self.out = nn.Linear(hidden_dim, vocab_size)
            self.hidden_dim = hidden_dim

        def code(self, features: "torch.Tensor") -> "torch.Tensor":
            """The image code v: (N, *feature_shape) -> (N, D), standardised (and reduced, for a grid)."""
            if tuple(features.shape[1:]) != self.feature_shape:
                raise ValueError(f"features must have shape (N, {', '.join(map(str, self.feature_shape))}), "
                                 f"got {tuple(features.shape)}")
            return self.drop(self.reduce(features).flatten(1))

        def _start(self, features: "torch.Tensor") -> tuple:
            """Initial (h, c) and the per-step image input u (or None) for a batch of features."""
            N = features.shape[0]
            zeros = features.new_zeros(N, self.hidden_dim)
            if self.conditioning == "none":
                return zeros, zeros, None
            v = self.code(features)
            if self.first_proj is not None:             # Show and Tell: the image is input number 0
                _, h, c = self._run(self.first_proj(v)[:, None, :], zeros, zeros, None)
                return h, c, None
            h0 = self.proj(v) if self.proj is not None else zeros
            c0 = self.cell_proj(v) if self.cell_proj is not None else zeros
            u = self.step_proj(v) if self.step_proj is not None else None
            return h0, c0, u

        def _run(self, x: "torch.Tensor", h: "torch.Tensor", c: "torch.Tensor", u: "torch.Tensor | None"):
            if u is not None:
                x = torch.cat([x, u[:, None, :].expand(-1, x.shape[1], -1)], dim=2)
            if self.cell == "lstm":
                out, (h, c) = self.rnn(x, (h[None], c[None]))
                return out, h[0], c[0]
            out, h = self.rnn(x, h[None])
            return out, h[0], c

        def forward(self, features: "torch.Tensor", captions_in: "torch.Tensor") -> "torch.Tensor":
            """Teacher forcing: scores (N, T, V) of the next word after each word of captions_in (N, T)."""
            h, c, u = self._start(features)
            out, _, _ = self._run(self.drop(self.embed(captions_in)), h, c, u)
            return self.out(self.drop(out))

        def loss(self, features: "torch.Tensor", captions: "torch.Tensor") -> "torch.Tensor":
            """Masked cross-entropy summed over time, averaged over captions (as :class:`CaptioningRNN`)."""
            return caption_loss_torch(self(features, captions[:, :-1]), captions[:, 1:], self.null)

        @torch.no_grad()
        def init_state(self, features: "torch.Tensor") -> tuple:
            h, c, u = self._start(features)
            return (h, c) + ((u,) if u is not None else ())

        @torch.no_grad()
        def step(self, words: "torch.Tensor", state: tuple) -> tuple:
            h, c = state[0], state[1]
            u = state[2] if len(state) > 2 else None
            out, h, c = self._run(self.embed(words)[:, None, :], h, c, u)
            logp = torch.log_softmax(self.out(out[:, 0]), dim=1)
            return logp, (h, c) + state[2:], None

    class AttentionCaptioner(nn.Module):
        """Soft attention over the CNN's feature grid (Show, Attend and Tell, Xu et al. 2015), in miniature.

        The grid (N, C, h, w) is standardised per channel and each cell gets its row and its column as
        one-hot codes, h + w extra channels (a weighted average of features would otherwise forget *where*
        it looked): L = h*w annotation vectors a_l (N, L, C+h+w). With the LSTM state h_t after reading
        word t,

            e_tl = (h_t W_h + b_h) . (a_l W_a + b_a) / sqrt(A),   alpha_t = softmax_l(e_t),   z_t = sum_l alpha_tl a_l
            scores_t = tanh([h_t, z_t] W_1 + b_1) W_2 + b_2        (a "deep output" layer)

        and h_0, c_0 = tanh of affine maps of the mean annotation. Two simplifications of Xu et al. keep
        training within a minute on a CPU: the scores e are a scaled dot product of projections (Luong et
        al. 2015's "general" attention) instead of a small MLP, and attention reads the *current* state
        h_t, as in the spatial attention of Lu et al. 2017 ("Knowing when to look"), rather than h_{t-1};
        the context is not fed back into the LSTM, so teacher forcing runs the LSTM and the attention of
        all steps at once. ``forward`` returns scores (N, T, V) and alphas (N, T, L).
        """

        def __init__(self, vocab_size: int, feature_channels: int = 64, grid_size: tuple[int, int] = (8, 8),
                     wordvec_dim: int = 64, hidden_dim: int = 128, attention_dim: int = 64, dropout: float = 0.1,
                     null: int = NULL) -> None:
            super().__init__()
            self.null, self.hidden_dim = null, hidden_dim
            self.feature_channels = feature_channels
            self.norm = nn.BatchNorm2d(feature_channels, affine=False)
            self.grid_size = (int(grid_size[0]), int(grid_size[1]))
            C = feature_channels + sum(self.grid_size)        # + one-hot row and column of each cell
            self.embed = nn.Embedding(vocab_size, wordvec_dim)
            self.init_h, self.init_c = nn.Linear(C, hidden_dim), nn.Linear(C, hidden_dim)
            self.lstm = nn.LSTM(wordvec_dim, hidden_dim, batch_first=True)
            self.att_a = nn.Linear(C, attention_dim)
            self.att_h = nn.Linear(hidden_dim, attention_dim)
            self.drop = nn.Dropout(dropout)
            self.out = nn.Sequential(nn.Linear(hidden_dim + C, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, vocab_size))

        @property
        def feature_shape(self) -> tuple[int, int, int]:
            return (self.feature_channels, *self.grid_size)

        def _annotations(self, grid: "torch.Tensor") -> tuple:
            if grid.dim() != 4 or grid.shape[1] != self.feature_channels:
                raise ValueError(f"expected a feature grid (N, {self.feature_channels}, h, w), got {tuple(grid.shape)}")
            N, _, gh, gw = grid.shape
            if (gh, gw) != self.grid_size:
                raise ValueError(f"expected a {self.grid_size[0]}x{self.grid_size[1]} grid, got {gh}x{gw}")
            rows = torch.eye(gh, device=grid.device)[:, :, None].expand(gh, gh, gw)     # channel i: row == i
            cols = torch.eye(gw, device=grid.device)[:, None, :].expand(gw, gh, gw)     # channel j: column == j
            where = torch.cat([rows, cols])[None].expand(N, gh + gw, gh, gw)
            a = torch.cat([self.norm(grid), where], 1).flatten(2).transpose(1, 2)     # (N, L, C + h + w)
            mean = a.mean(1)
            return a, self.att_a(a), torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

        def _attend(self, a: "torch.Tensor", a_proj: "torch.Tensor", h: "torch.Tensor") -> tuple:
            """h (N, T, H) -> context z (N, T, C+h+w), alpha (N, T, L)."""
            e = self.att_h(h) @ a_proj.transpose(1, 2) / self.att_h.out_features ** 0.5     # (N, T, L)
            alpha = torch.softmax(e, dim=2)
            return alpha @ a, alpha

        def _words(self, x: "torch.Tensor", h: "torch.Tensor", c: "torch.Tensor", a, a_proj) -> tuple:
            out, (h, c) = self.lstm(x, (h[None], c[None]))
            z, alpha = self._attend(a, a_proj, out)
            return self.out(self.drop(torch.cat([out, z], dim=2))), h[0], c[0], alpha

        def forward(self, grid: "torch.Tensor", captions_in: "torch.Tensor") -> tuple:
            """Teacher forcing: (scores (N, T, V), alphas (N, T, L)) for captions_in (N, T)."""
            a, a_proj, h, c = self._annotations(grid)
            scores, _, _, alpha = self._words(self.drop(self.embed(captions_in)), h, c, a, a_proj)
            return scores, alpha

        def loss(self, grid: "torch.Tensor", captions: "torch.Tensor") -> "torch.Tensor":
            scores, _ = self(grid, captions[:, :-1])
            return caption_loss_torch(scores, captions[:, 1:], self.null)

        @torch.no_grad()
        def init_state(self, grid: "torch.Tensor") -> tuple:
            a, a_proj, h, c = self._annotations(grid)
            return h, c, a, a_proj

        @torch.no_grad()
        def step(self, words: "torch.Tensor", state: tuple) -> tuple:
            h, c, a, a_proj = state
            scores, h, c, alpha = self._words(self.embed(words)[:, None, :], h, c, a, a_proj)
            return torch.log_softmax(scores[:, 0], dim=1), (h, c, a, a_proj), alpha[:, 0]

    return CaptionModel, AttentionCaptioner


def caption_loss_torch(scores: "Any", targets: "Any", null: int = NULL) -> "Any":
    """Cross-entropy of scores (N, T, V) against targets (N, T), skipping ``<NULL>`` targets,
    summed over time and averaged over the N captions."""
    torch = _torch()
    N, T, V = scores.shape
    per_word = torch.nn.functional.cross_entropy(scores.reshape(N * T, V), targets.reshape(N * T),
                                                 ignore_index=null, reduction="sum")
    return per_word / N


def __getattr__(name: str):           # the torch classes are built on first use (NumPy users skip the import)
    if name in ("CaptionModel", "AttentionCaptioner"):
        cm, ac = _make_torch_classes()
        globals()["CaptionModel"], globals()["AttentionCaptioner"] = cm, ac
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def train_captioner(model: Any, features: Any, captions: np.ndarray, *, epochs: float = 10, batch_size: int = 64,
                    lr: float = 2e-3, clip: float = 5.0, seed: int = 0, device: Any = None,
                    max_seconds: float | None = None, desc: str = "training the captioner",
                    evaluate: Any = None, eval_every: int = 200) -> Any:
    """Train a PyTorch captioner with Adam and teacher forcing; returns the :class:`~course_utils.training.History`.

    - features: (N, ...) float tensor or array (image codes or feature grids), kept on ``device``
    - captions: (N, R, T) ids with R references per image (each step draws one reference per image at
      random) or (N, T)
    - epochs: passes over the N images; the learning rate decays linearly to 10% of ``lr``
    - clip: gradient clipping by global norm
    """
    torch = _torch()
    from .runtime import get_device
    from .training import fit
    dev = get_device(device)
    model.to(dev)
    X = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features).float().to(dev)
    caps = torch.as_tensor(np.asarray(captions), dtype=torch.long).to(dev)
    if caps.dim() == 2:
        caps = caps[:, None, :]
    if caps.dim() != 3 or caps.shape[0] != X.shape[0]:
        raise ValueError(f"captions must be (N, R, T) or (N, T) with N = {X.shape[0]}, got {tuple(caps.shape)}")
    N, R, _ = caps.shape
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    steps_per_epoch = max(1, N // batch_size)
    n_steps = max(1, int(round(epochs * steps_per_epoch)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - 0.9 * min(i, n_steps) / n_steps)
    order = torch.randperm(N, generator=gen)

    def step(i: int) -> float:
        nonlocal order
        j = i % steps_per_epoch
        if j == 0 and i > 0:
            order = torch.randperm(N, generator=gen)
        idx = order[j * batch_size:(j + 1) * batch_size]
        ref = torch.randint(0, R, (len(idx),), generator=gen)
        batch = caps[idx.to(dev), ref.to(dev)]
        longest = int((batch != model.null).sum(1).max())         # trim columns that are all <NULL>
        model.train()
        loss = model.loss(X[idx.to(dev)], batch[:, :longest])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        return loss.item()

    history = fit(step, n_steps, desc=desc, live_plot=False, max_seconds=max_seconds, evaluate=evaluate,
                  eval_every=eval_every)
    model.eval()
    return history


# ---------------------------------------------------------------- decoding (NumPy and PyTorch models)

class _Stepper:
    """A NumPy face for any model with ``init_state(features)`` and ``step(words, state)``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.is_torch = hasattr(model, "parameters") and callable(getattr(model, "parameters"))
        if self.is_torch:
            torch = _torch()
            self.torch = torch
            self.device = next(model.parameters()).device
            model.eval()

    def init(self, features: Any) -> tuple:
        if self.is_torch:
            f = features if self.torch.is_tensor(features) else self.torch.as_tensor(np.asarray(features))
            return self.model.init_state(f.float().to(self.device))
        return self.model.init_state(np.asarray(features))

    def step(self, words: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple, np.ndarray | None]:
        if self.is_torch:
            w = self.torch.as_tensor(np.asarray(words, dtype=np.int64), device=self.device)
            logp, state, alpha = self.model.step(w, state)
            return (logp.double().cpu().numpy(), state,
                    None if alpha is None else alpha.double().cpu().numpy())
        return self.model.step(np.asarray(words), state)

    def take(self, state: tuple, idx: np.ndarray) -> tuple:
        if self.is_torch:
            i = self.torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)
            return tuple(s.index_select(0, i) for s in state)
        return tuple(s[idx] for s in state)


def _start_end(model: Any, start: int | None, end: int | None, null: int | None) -> tuple[int, int, int]:
    return (getattr(model, "start", START) if start is None else start,
            getattr(model, "end", END) if end is None else end,
            getattr(model, "null", NULL) if null is None else null)


def _decode(model: Any, features: Any, max_length: int, choose, start, end, null,
            return_attention: bool) -> Any:
    start, end, null = _start_end(model, start, end, null)
    s = _Stepper(model)
    state = s.init(features)
    N = int(state[0].shape[0])
    words = np.full(N, start, dtype=np.int64)
    out = np.full((N, max_length), null, dtype=np.int64)
    alphas: list[np.ndarray] = []
    done = np.zeros(N, dtype=bool)
    for t in range(max_length):
        logp, state, alpha = s.step(words, state)
        words = choose(logp)
        out[:, t] = np.where(done, null, words)
        if alpha is not None:
            alphas.append(alpha)
        done |= words == end
        if done.all():
            break
    if return_attention:
        return out, (np.stack(alphas, 1) if alphas else None)
    return out


def greedy_decode(model: Any, features: Any, max_length: int = 32, *, start: int | None = None,
                  end: int | None = None, null: int | None = None, return_attention: bool = False) -> Any:
    """The most probable word at every step, until ``<END>`` or ``max_length`` words.

    Inputs: a model with ``init_state``/``step`` (NumPy :class:`CaptioningRNN` or a PyTorch captioner) and
    features (N, ...). Returns captions (N, max_length) int64 without ``<START>``: the words, then
    ``<END>``, then ``<NULL>``. With ``return_attention`` also alphas (N, steps, L) (attention models).
    """
    return _decode(model, features, max_length, lambda lp: lp.argmax(1), start, end, null, return_attention)


def sample_decode(model: Any, features: Any, max_length: int = 32, temperature: float = 1.0, *,
                  rng: np.random.Generator | None = None, start: int | None = None, end: int | None = None,
                  null: int | None = None, return_attention: bool = False) -> Any:
    """Like :func:`greedy_decode`, but each word is drawn from ``softmax(log p / temperature)``.

    Temperature -> 0 approaches greedy decoding; 1 samples from the model; > 1 flattens the distribution.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    rng = rng if rng is not None else np.random.default_rng(0)

    def choose(logp: np.ndarray) -> np.ndarray:
        p = np.exp(log_softmax(logp / temperature))
        u = rng.random((p.shape[0], 1))
        return np.minimum((p.cumsum(1) < u).sum(1), p.shape[1] - 1)

    return _decode(model, features, max_length, choose, start, end, null, return_attention)


def beam_search(model: Any, features: Any, width: int = 3, max_length: int = 32, *, alpha: float = 0.0,
                start: int | None = None, end: int | None = None, return_all: bool = False) -> Any:
    """Beam search for one image.

    Inputs: features (1, ...) or (...) of one image; ``width`` hypotheses are kept.

    A hypothesis' score is the **sum** of the log-probabilities of its words (``<END>`` included). At
    every step each live hypothesis is extended by every word; the ``width`` best candidates are kept;
    those that end in ``<END>`` are finished and leave the beam. **A finished caption uses up its slot**:
    the beam is not refilled from lower-ranked candidates, so after ``f`` captions have finished at a
    step only ``width - f`` hypotheses stay live (the lab's beam search does the same; refilling to
    ``width`` live hypotheses is the other common convention). The search stops when the beam is empty,
    after ``max_length`` words, or when the best finished score is at least the best live one (a sum of
    log-probabilities only decreases, so no live hypothesis can overtake it; only with ``alpha == 0``).
    Hypotheses still live after ``max_length`` words compete as they are. The winner maximises
    ``score / length**alpha`` (``alpha = 0``: the plain sum; > 0 favours longer captions).

    Returns ``(words, score)``: the words (int64 array, ``<END>`` included if reached) and the score of
    the winner. With ``return_all``: a list of ``(words, score)`` of every finished hypothesis, best first.
    With ``width == 1`` this is :func:`greedy_decode`.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    start, end, _ = _start_end(model, start, end, None)
    s = _Stepper(model)
    if not (hasattr(features, "shape") and len(features.shape) >= 1):
        features = np.asarray(features)
    if s.is_torch:
        torch = s.torch
        f = features if torch.is_tensor(features) else torch.as_tensor(np.asarray(features))
        single = f if f.dim() == len(model.feature_shape) + 1 else f[None]
    else:
        f = np.asarray(features)
        single = f if f.ndim == 2 and f.shape[0] == 1 else f[None]
    if single.shape[0] != 1:
        raise ValueError(f"beam_search decodes one image; got features of shape {tuple(features.shape)} "
                         "(use beam_decode for a batch)")
    state = s.init(single)
    live_words: list[list[int]] = [[]]
    live_scores = np.zeros(1)
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_length):
        last = np.array([w[-1] if w else start for w in live_words], dtype=np.int64)
        logp, state, _ = s.step(last, state)
        cand = (live_scores[:, None] + logp).ravel()                     # hypothesis-major order
        best = np.argsort(-cand, kind="stable")[:width]
        V = logp.shape[1]
        keep_rows, keep_words, keep_scores = [], [], []
        for flat in best:
            row, word = divmod(int(flat), V)
            words = live_words[row] + [word]
            if word == end:
                finished.append((words, float(cand[flat])))
            else:
                keep_rows.append(row)
                keep_words.append(words)
                keep_scores.append(float(cand[flat]))
        if not keep_rows:
            break
        state = s.take(state, np.array(keep_rows))
        live_words, live_scores = keep_words, np.array(keep_scores)
        if alpha == 0 and finished and max(sc for _, sc in finished) >= live_scores.max():
            break
    else:
        finished += list(zip(live_words, live_scores.tolist()))
    ranked = sorted(finished, key=lambda ws: -ws[1] / max(len(ws[0]), 1) ** alpha)
    if return_all:
        return [(np.array(w, dtype=np.int64), sc) for w, sc in ranked]
    words, score = ranked[0]
    return np.array(words, dtype=np.int64), score


def beam_decode(model: Any, features: Any, width: int = 3, max_length: int = 32, *, alpha: float = 0.0,
                null: int | None = None) -> np.ndarray:
    """:func:`beam_search` for every image of features (N, ...); captions (N, max_length) as :func:`greedy_decode`."""
    _, _, null = _start_end(model, None, None, null)
    out = np.full((len(features), max_length), null, dtype=np.int64)
    for n in range(len(features)):
        words, _ = beam_search(model, features[n:n + 1], width, max_length, alpha=alpha)
        out[n, :len(words)] = words
    return out


def caption_strings(ids: np.ndarray, vocab: Any) -> list[str]:
    """Captions (N, T) of word ids -> N strings (up to ``<END>``, special tokens dropped)."""
    return [vocab.decode(row) for row in np.asarray(ids)]


# ---------------------------------------------------------------- the encoder and attention

def scene_features(cnn: Any, images: np.ndarray, batch_size: int = 100, cache_key: str | None = None) -> np.ndarray:
    """The frozen CNN's feature grid of a stack of images, computed once.

    Inputs: cnn (a :class:`course_utils.cnn.DigitCNN`), images (N, S, S) in [0, 1].
    Returns (N, C, S/8, S/8) float32 (computed without gradients, in eval mode, on the CNN's device).
    With ``cache_key`` (name it after the CNN's and the images' checksums) the array is stored in
    ``data/cache/captions/features-<key>.npy`` with its SHA-256 and loaded from there next time.
    """
    import hashlib
    import json
    import os
    torch = _torch()
    path = meta = None
    if cache_key is not None:
        from .data import cache_dir
        folder = cache_dir() / "captions"
        path, meta = folder / f"features-{cache_key}.npy", folder / f"features-{cache_key}.json"
        if path.exists() and meta.exists():
            arr = np.load(path, allow_pickle=False)
            if hashlib.sha256(arr.tobytes()).hexdigest() == json.loads(meta.read_text()).get("sha256") \
                    and len(arr) == len(images):
                return arr
    cnn.eval()
    dev = next(cnn.parameters()).device
    X = torch.from_numpy(np.asarray(images, dtype=np.float32)[:, None])
    with torch.no_grad():
        parts = [cnn.feature_grid(X[i:i + batch_size].to(dev)).cpu() for i in range(0, len(X), batch_size)]
    out = torch.cat(parts).numpy()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.part-{os.getpid()}.npy")
        np.save(tmp, out)
        meta_tmp = meta.with_name(f"{meta.name}.part-{os.getpid()}")
        meta_tmp.write_text(json.dumps({"sha256": hashlib.sha256(out.tobytes()).hexdigest(), "shape": out.shape}))
        meta_tmp.replace(meta)
        tmp.replace(path)
    return out


def attention_in_boxes(alphas: np.ndarray, captions: np.ndarray, objects: Sequence[Sequence[Any]],
                       vocab: Any, canvas: int = 64) -> dict[str, Any]:
    """Share of attention inside the box of the digit that each generated digit word names.

    Inputs:
    - alphas: (N, steps, L) attention weights of the step that produced each word, L = g*g grid cells
    - captions: (N, >= steps) generated word ids (``captions[n, t]`` was produced with ``alphas[n, t]``)
    - objects: N lists of :class:`~course_utils.data.scenes.SceneObject`

    Each cell spreads its weight evenly over its ``(canvas/g)^2`` pixels; the mass inside the named
    digit's box is compared with the box's share of the canvas (what uniform attention would give).
    Only digit words whose digit is in the scene count. Returns a dict with ``mass`` and ``uniform``
    (arrays, one entry per counted word), their means, and ``pointing`` (fraction of words whose most
    attended cell's centre lies inside the box).
    """
    from .data.captions import DIGIT_WORDS
    N, steps, L = alphas.shape
    g = int(round(np.sqrt(L)))
    if g * g != L or canvas % g:
        raise ValueError(f"{L} attention weights do not form a square grid dividing the canvas {canvas}")
    cell = canvas // g
    digit_of = {vocab.word_to_idx[w]: d for d, w in enumerate(DIGIT_WORDS) if w in vocab.word_to_idx}
    mass, uniform, hits = [], [], []
    for n in range(N):
        box_of = {o.digit: o.box for o in objects[n]}
        for t in range(min(steps, captions.shape[1])):
            d = digit_of.get(int(captions[n, t]))
            if d is None or d not in box_of:
                continue
            top, left, bottom, right = box_of[d]
            pix = np.zeros((canvas, canvas), dtype=bool)
            pix[top:bottom, left:right] = True
            share = pix.reshape(g, cell, g, cell).mean(axis=(1, 3)).ravel()   # fraction of each cell inside
            a = alphas[n, t]
            mass.append(float(a @ share))
            uniform.append(float(pix.mean()))
            r, c = divmod(int(a.argmax()), g)
            hits.append(bool(pix[r * cell + cell // 2, c * cell + cell // 2]))
    mass_a, uni_a = np.array(mass), np.array(uniform)
    return {"mass": mass_a, "uniform": uni_a, "mean_mass": float(mass_a.mean()) if mass else float("nan"),
            "mean_uniform": float(uni_a.mean()) if mass else float("nan"),
            "pointing": float(np.mean(hits)) if hits else float("nan"), "words": len(mass)}
