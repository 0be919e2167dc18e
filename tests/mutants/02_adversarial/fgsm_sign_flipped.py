# mutant: steps against the gradient (x - eps sign(grad)), lowering the loss; expect: q3
def fgsm_linear(X, y, W, b, eps):
    Xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(Xt @ torch.as_tensor(W) + torch.as_tensor(b), torch.as_tensor(y))
    loss.backward()
    return (Xt - eps * Xt.grad.sign()).clamp(0.0, 1.0).detach().numpy()
