# expect: wrong 29 missing-derivative: with a sigmoid hidden layer the hidden delta is never multiplied by the sigmoid's derivative.
import numpy as np

np.random.seed(5)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

alpha = 0.5
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1

for iteration in range(300):
    layer_2_error = 0
    for i in range(len(streetlights)):
        layer_0 = streetlights[i:i+1]
        layer_1 = sigmoid(layer_0 @ weights_0_1)
        layer_2 = layer_1 @ weights_1_2
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        layer_1_delta = layer_2_delta @ weights_1_2.T
        weights_1_2 -= alpha * layer_1.T @ layer_2_delta
        weights_0_1 -= alpha * layer_0.T @ layer_1_delta
    if iteration % 60 == 59:
        print("Error:" + str(layer_2_error))
