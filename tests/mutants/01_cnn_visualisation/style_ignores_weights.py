# mutant: the layer weights are ignored; expect: q7
def style_loss(features, target_grams, weights):
    return float(sum(np.sum((gram_matrix(F) - A) ** 2) / np.sum(A ** 2) for F, A in zip(features, target_grams)))
