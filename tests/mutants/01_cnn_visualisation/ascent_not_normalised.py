# mutant: the step is lr * g without dividing by ||g||; expect: q5
def class_visualization_step(img, W1, b1, W2, b2, c, lr, l2):
    g = input_gradient(img, W1, b1, W2, b2, c) - 2 * l2 * img
    return img + lr * g
