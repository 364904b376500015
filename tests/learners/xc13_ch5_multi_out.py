# expect: clean
import numpy as np

weights = np.array([0.3, 0.2, 0.9])
alpha = 0.1

wlrec = [0.65, 1.0, 1.0, 0.9]
hurt = [0.1, 0.0, 0.0, 0.1]
win = [1, 1, 0, 1]
sad = [0.1, 0.0, 0.1, 0.2]

input = wlrec[0]
true = np.array([hurt[0], win[0], sad[0]])

for step in range(5):
    pred = input * weights
    error = (pred - true) ** 2
    delta = pred - true
    weight_deltas = input * delta
    weights = weights - alpha * weight_deltas
    print("step", step, "error", error.round(5), "weights", weights.round(4))
