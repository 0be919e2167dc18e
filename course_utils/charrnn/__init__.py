"""min-char-rnn and backpropagation through time (units 4 and 5), in NumPy.

* :mod:`.minchar`    -- the faithful port: parameters, loss function (forward + BPTT), sampling, Adagrad
* :mod:`.batched`    -- the same maths for B sequences at once (float32/float64), evaluation
* :mod:`.train`      -- the training loops (faithful and batched) with progress bars
* :mod:`.sampling`   -- softmax with temperature, top-k
* :mod:`.clipping`   -- clipping by value and by global norm
* :mod:`.gradcheck`  -- numerical gradients and relative errors
* :mod:`.bptt`       -- full vs truncated BPTT, Jacobian norms through time, bidirectional BPTT
* :mod:`.checkpoint` -- safe checkpoints (``.npz`` without pickle + vocabulary JSON)
* :mod:`.cli`        -- ``course charrnn train|sample``

Unit 8's char-rnn practice, in PyTorch:

* :mod:`.lm`         -- CharLM (embedding, multi-layer LSTM/GRU/RNN, dropout), evaluation, weighted-pick sampling
* :mod:`.lm_train`   -- the trainer: Adam, per-epoch decay, clipping, exact resume, safe checkpoints, TensorBoard
* :mod:`.lm_cli`     -- ``course charrnn train --model lstm|gru|rnn`` / ``--resume`` / ``sample``
"""
