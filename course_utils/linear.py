"""Linear classifiers in NumPy: the binary logistic model of the slides and a softmax classifier (unit 2).

Row convention throughout (cs231n): a minibatch ``X`` is (N, D), weights ``W`` are (D, C), bias ``b`` (C,),
scores ``S = X W + b`` are (N, C). Column ``W[:, c]`` is class c's *template*: reshaped to the image's
shape it shows what the classifier looks for, and adding a little of it to any image raises that
class's score -- the linear root of adversarial examples (see :mod:`course_utils.adversarial`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["sigmoid", "softmax", "SoftmaxClassifier", "train_softmax"]


def sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    """The logistic function 1 / (1 + exp(-z)), numerically stable for large |z|; any shape."""
    z = np.asarray(z, dtype=np.float64)
    out = np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))
    return float(out) if out.ndim == 0 else out


def softmax(S: np.ndarray) -> np.ndarray:
    """Row-wise softmax: scores (N, C) -> probabilities (N, C), each row summing to 1."""
    S = np.asarray(S, dtype=np.float64)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


@dataclass
class SoftmaxClassifier:
    """A multinomial logistic regression ``p = softmax(X W + b)``.

    - W: (D, C) weights; column c is class c's template
    - b: (C,) biases
    - history: training loss per iteration (filled by :func:`train_softmax`)
    """
    W: np.ndarray
    b: np.ndarray
    history: list[float] = field(default_factory=list)

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.W.shape[0]:
            raise ValueError(f"expected inputs of shape (N, {self.W.shape[0]}), got {X.shape}")
        return X

    def scores(self, X: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, C) class scores X W + b."""
        return self._check(X) @ self.W + self.b

    def proba(self, X: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, C) class probabilities."""
        return softmax(self.scores(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N, D) -> (N,) predicted classes."""
        return self.scores(X).argmax(axis=1)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def input_gradient(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gradient of the summed cross-entropy with respect to the inputs: (N, D).

        d/dx [-log p_y] = W (p - onehot(y)), one row per example.
        """
        P = self.proba(X)
        P[np.arange(len(P)), np.asarray(y)] -= 1.0
        return P @ self.W.T

    def templates(self, shape: tuple[int, ...]) -> np.ndarray:
        """The C class templates as images: (C, *shape)."""
        return self.W.T.reshape(self.W.shape[1], *shape)


def train_softmax(X: np.ndarray, y: np.ndarray, num_classes: int = 10, *, reg: float = 1e-3,
                  lr: float = 0.5, iters: int = 300, momentum: float = 0.9, seed: int = 0) -> SoftmaxClassifier:
    """Fit a :class:`SoftmaxClassifier` by full-batch gradient descent with momentum.

    Inputs:
    - X: (N, D) training inputs; y: (N,) integer labels in 0..num_classes-1
    - reg: L2 penalty ``reg * sum(W**2)`` (smooth templates); lr, iters, momentum: the optimiser
    Loss: mean cross-entropy + reg * ||W||^2. Deterministic for a given seed.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"need X (N, D) and y (N,), got {X.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    N, D = X.shape
    rng = np.random.default_rng(seed)
    clf = SoftmaxClassifier(W=rng.normal(0, 1e-3, (D, num_classes)), b=np.zeros(num_classes))
    vW, vb = np.zeros_like(clf.W), np.zeros_like(clf.b)
    onehot = np.eye(num_classes)[y]
    for _ in range(iters):
        P = softmax(X @ clf.W + clf.b)
        loss = -np.mean(np.log(P[np.arange(N), y] + 1e-300)) + reg * np.sum(clf.W ** 2)
        clf.history.append(float(loss))
        dS = (P - onehot) / N
        dW = X.T @ dS + 2 * reg * clf.W
        db = dS.sum(axis=0)
        vW = momentum * vW - lr * dW
        vb = momentum * vb - lr * db
        clf.W += vW
        clf.b += vb
    return clf
