"""2-D embeddings of high-dimensional data (PCA, t-SNE), timed and scored.

Looking at a scatter plot is not a measurement. :func:`knn_accuracy` scores an embedding by how well
its 2-D neighbourhoods keep the classes together: the leave-one-out accuracy of a k-nearest-neighbour
vote *in the embedding*. :func:`trustworthiness` (Venna & Kaski, via scikit-learn) asks whether the
2-D neighbours were neighbours in the original space.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["embed", "knn_accuracy", "trustworthiness"]


def embed(X: np.ndarray, method: str = "pca", seed: int = 0, **kwargs) -> tuple[np.ndarray, float]:
    """Embed X (N, D) in 2-D with ``"pca"`` or ``"tsne"``; return ``(Z (N, 2), seconds)``.

    t-SNE uses scikit-learn's defaults (perplexity 30, PCA initialisation) unless ``kwargs`` say otherwise.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (N, D), got {X.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA
        model = PCA(n_components=2, random_state=seed, **kwargs)
    elif method == "tsne":
        from sklearn.manifold import TSNE
        model = TSNE(n_components=2, init="pca", random_state=seed, **kwargs)
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    t0 = time.perf_counter()
    Z = model.fit_transform(X)
    return Z, time.perf_counter() - t0


def knn_accuracy(Z: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-NN accuracy: each point's label predicted by a majority vote of its k nearest others.

    - Z: (N, d) points (an embedding), y: (N,) integer labels
    Ties in the vote go to the smallest label.
    """
    Z, y = np.asarray(Z, dtype=np.float64), np.asarray(y)
    if Z.ndim != 2 or len(Z) != len(y):
        raise ValueError(f"need Z (N, d) and y (N,), got {Z.shape} and {y.shape}")
    if not 1 <= k < len(Z):
        raise ValueError(f"k must be in 1..N-1, got {k}")
    sq = (Z ** 2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * Z @ Z.T
    np.fill_diagonal(d2, np.inf)
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]         # (N, k)
    labels = np.unique(y)
    votes = (y[nearest][:, :, None] == labels[None, None, :]).sum(1)  # (N, L)
    pred = labels[votes.argmax(1)]
    return float((pred == y).mean())


def trustworthiness(X: np.ndarray, Z: np.ndarray, k: int = 5) -> float:
    """scikit-learn's trustworthiness in [0, 1]: 1 when every 2-D neighbour was an original neighbour."""
    from sklearn.manifold import trustworthiness as tw
    return float(tw(np.asarray(X, dtype=np.float64), np.asarray(Z, dtype=np.float64), n_neighbors=k))
