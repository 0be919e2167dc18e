# mutant: the derivative of lambda ||I||^2 taken as lambda I (factor 2 missing); expect: q5
def class_visualization_step(img, W1, b1, W2, b2, c, lr, l2):
    g = input_gradient(img, W1, b1, W2, b2, c) - l2 * img
    return img + lr * g / np.linalg.norm(g)
