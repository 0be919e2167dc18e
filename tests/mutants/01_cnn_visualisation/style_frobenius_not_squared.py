# mutant: uses the Frobenius norms themselves instead of their squares; expect: q7
def style_loss(features, target_grams, weights):
    return float(sum(w * np.linalg.norm(gram_matrix(F) - A) / np.linalg.norm(A)
                     for F, A, w in zip(features, target_grams, weights)))
