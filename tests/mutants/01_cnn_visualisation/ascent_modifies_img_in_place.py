# mutant: the step is right but applied to img in place (img += ...), which the text forbids; expect: q5
def class_visualization_step(img, W1, b1, W2, b2, c, lr, l2):
    g = input_gradient(img, W1, b1, W2, b2, c) - 2 * l2 * img
    img += lr * g / np.linalg.norm(g)
    return img
