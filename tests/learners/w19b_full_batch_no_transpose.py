# expect: wrong 29 missing-transpose-update: with 4 samples and 4 hidden units layer_1.dot(layer_2_delta) has the right shape but is not layer_1.T.dot(layer_2_delta).
import numpy as np

np.random.seed(44)

def relu(x):
    return (x > 0) * x

def relu2deriv(output):
    return output > 0

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

alpha = 0.2
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1

for iteration in range(200):
    layer_0 = streetlights
    layer_1 = relu(layer_0.dot(weights_0_1))
    layer_2 = layer_1.dot(weights_1_2)
    layer_2_error = np.sum((layer_2 - walk_vs_stop) ** 2)
    layer_2_delta = layer_2 - walk_vs_stop
    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
    weights_1_2 -= alpha * layer_1.dot(layer_2_delta) / len(layer_0)
    weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta) / len(layer_0)
    if iteration % 40 == 39:
        print("Error:" + str(layer_2_error))
