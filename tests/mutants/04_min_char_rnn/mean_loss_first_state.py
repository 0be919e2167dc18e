# mutant: averages the loss over time and returns the first hidden state instead of the last; expect: q1
_loss_fun_solution = loss_fun


def loss_fun(inputs, targets, hprev, Wxh, Whh, Why, bh, by):
    loss, dWxh, dWhh, dWhy, dbh, dby, h_last = _loss_fun_solution(inputs, targets, hprev, Wxh, Whh, Why, bh, by)
    h_first = np.tanh(Wxh[:, [inputs[0]]] + Whh @ hprev + bh)
    return loss / len(inputs), dWxh, dWhh, dWhy, dbh, dby, h_first
