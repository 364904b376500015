# expect: clean
import numpy as np

np.random.seed(3)


def relu(x):
    return np.maximum(0, x)


def relu2deriv(output):
    return np.where(output > 0, 1.0, 0.0)


def train(streetlights, walk_vs_stop, weights_0_1, weights_1_2, alpha, epochs):
    for iteration in range(epochs):
        layer_2_error = 0
        for i in range(len(streetlights)):
            layer_0 = streetlights[i:i + 1]
            layer_1 = relu(np.dot(layer_0, weights_0_1))
            layer_2 = np.dot(layer_1, weights_1_2)
            layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i + 1]) ** 2)
            layer_2_delta = layer_2 - walk_vs_stop[i:i + 1]
            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
            weights_1_2 = weights_1_2 - alpha * layer_1.T.dot(layer_2_delta)
            weights_0_1 = weights_0_1 - alpha * layer_0.T.dot(layer_1_delta)
        if iteration % 25 == 24:
            print("Error:" + str(layer_2_error))
    return weights_0_1, weights_1_2


lights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
goals = np.array([[1], [1], [0], [0]])
hidden_size = 5
w01 = 2 * np.random.random((3, hidden_size)) - 1
w12 = 2 * np.random.random((hidden_size, 1)) - 1
w01, w12 = train(lights, goals, w01, w12, 0.15, 100)
