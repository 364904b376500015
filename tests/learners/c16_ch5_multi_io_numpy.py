# expect: clean
# Chapter 5: several inputs AND several outputs, but with numpy instead of the loops
import numpy as np

#                   toes  %win  #fans
weights = np.array([[0.1, 0.1, -0.3],   # hurt?
                    [0.1, 0.2, 0.0],    # win?
                    [0.0, 1.3, 0.1]])   # sad?

toes = [8.5, 9.5, 9.9, 9.0]
wlrec = [0.65, 0.8, 0.8, 0.9]
nfans = [1.2, 1.3, 0.5, 1.0]

hurt = [0.1, 0.0, 0.0, 0.1]
win = [1, 1, 0, 1]
sad = [0.1, 0.0, 0.1, 0.2]

alpha = 0.01

input = np.array([toes[0], wlrec[0], nfans[0]])
true = np.array([hurt[0], win[0], sad[0]])

for step in range(3):
    pred = weights.dot(input)
    error = (pred - true) ** 2
    delta = pred - true
    weight_deltas = np.outer(delta, input)
    weights -= alpha * weight_deltas
    print("step", step, "error", error.round(4))
