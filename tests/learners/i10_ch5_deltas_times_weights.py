# expect: wrong 28 weight-delta-uses-weights: each weight_delta is delta times the weight instead of delta times its input.
def w_sum(a, b):
    total = 0
    for i in range(len(a)):
        total += a[i] * b[i]
    return total

def ele_mul(number, vector):
    out = [0, 0, 0]
    for i in range(len(vector)):
        out[i] = number * vector[i]
    return out

toes = [8.5, 9.5, 9.9, 9.0]
wlrec = [0.65, 0.8, 0.8, 0.9]
nfans = [1.2, 1.3, 0.5, 1.0]
win_or_lose_binary = [1, 1, 0, 1]

true = win_or_lose_binary[0]
input = [toes[0], wlrec[0], nfans[0]]
weights = [0.1, 0.2, -0.1]
alpha = 0.01

for iteration in range(3):
    pred = w_sum(input, weights)
    error = (pred - true) ** 2
    delta = pred - true
    weight_deltas = ele_mul(delta, weights)
    for i in range(len(weights)):
        weights[i] -= alpha * weight_deltas[i]
    print("Pred:", pred, "Error:", error)
