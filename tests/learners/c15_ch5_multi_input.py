# expect: clean
# Chapter 5: three inputs, one output -- the book's helper functions, written by me
def w_sum(a, b):
    assert len(a) == len(b)
    total = 0
    for x, y in zip(a, b):
        total += x * y
    return total


def ele_mul(number, vector):
    return [number * v for v in vector]


toes = [8.5, 9.5, 9.9, 9.0]
wlrec = [0.65, 0.8, 0.8, 0.9]
nfans = [1.2, 1.3, 0.5, 1.0]
win_or_lose_binary = [1, 1, 0, 1]

weights = [0.1, 0.2, -0.1]
alpha = 0.01

input = [toes[0], wlrec[0], nfans[0]]
goal_pred = win_or_lose_binary[0]

for iteration in range(5):
    pred = w_sum(input, weights)
    error = (pred - goal_pred) ** 2
    delta = pred - goal_pred
    weight_deltas = ele_mul(delta, input)
    for i in range(len(weights)):
        weights[i] -= alpha * weight_deltas[i]
    print("Iteration", iteration + 1, "pred", pred, "error", error)

print("Weights:", weights)
