# expect: wrong 34|35 weights-after-update: weights_1_2 is updated before layer_1_delta is computed from it.
import numpy as np

np.random.seed(17)

data = [[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]]
labels = [1, 1, 0, 0]
streetlights = np.array(data, dtype=float)
walk_vs_stop = np.array(labels, dtype=float).reshape(4, 1)


def relu(x):
    return x * (x > 0)


def relu2deriv(output):
    return 1.0 * (output > 0)


alpha = 0.1
weights_0_1 = np.random.random((3, 4)) * 2 - 1
weights_1_2 = np.random.random((4, 1)) * 2 - 1

for epoch in range(100):
    layer_2_error = 0
    for i in range(4):
        layer_0 = streetlights[i:i+1]
        layer_1 = relu(layer_0.dot(weights_0_1))
        layer_2 = layer_1.dot(weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)

        # output layer first, then the hidden one
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    if epoch % 20 == 19:
        print("epoch", epoch, "error", layer_2_error)
