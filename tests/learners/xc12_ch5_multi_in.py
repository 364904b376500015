# expect: clean
import numpy as np

toes = np.array([8.5, 9.5, 9.9, 9.0])
wlrec = np.array([0.65, 0.8, 0.8, 0.9])
nfans = np.array([1.2, 1.3, 0.5, 1.0])
win_or_lose_binary = np.array([1, 1, 0, 1])

weights = np.array([0.1, 0.2, -0.1])
alpha = 0.01

for iteration in range(3):
    input = np.array([toes[0], wlrec[0], nfans[0]])
    true = win_or_lose_binary[0]
    pred = input.dot(weights)
    error = (pred - true) ** 2
    delta = pred - true
    weight_deltas = delta * input
    weights -= alpha * weight_deltas
    print("Iteration", iteration + 1, "Pred", pred, "Error", error)
