# mutant: the squared error is not divided by ||A_l||^2; expect: q7
def style_loss(features, target_grams, weights):
    return float(sum(w * np.sum((gram_matrix(F) - A) ** 2) for F, A, w in zip(features, target_grams, weights)))
