# expect: clean
import numpy as np

alpha = 0.1


class StreetlightNet:
    """A two-layer network kept in an object, trained one sample at a time."""

    def __init__(self, n_in, n_hidden, seed=7):
        np.random.seed(seed)
        self.weights_0_1 = 2 * np.random.random((n_in, n_hidden)) - 1
        self.weights_1_2 = 2 * np.random.random((n_hidden, 1)) - 1

    @staticmethod
    def relu(x):
        return (x > 0) * x

    @staticmethod
    def relu2deriv(output):
        return output > 0

    def train_step(self, layer_0, goal):
        layer_1 = self.relu(layer_0.dot(self.weights_0_1))
        layer_2 = layer_1.dot(self.weights_1_2)
        layer_2_delta = layer_2 - goal
        layer_1_delta = layer_2_delta.dot(self.weights_1_2.T) * self.relu2deriv(layer_1)
        self.weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        self.weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
        return np.sum((layer_2 - goal) ** 2)


streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

net = StreetlightNet(3, 4)
for iteration in range(80):
    layer_2_error = 0
    for i in range(len(streetlights)):
        layer_2_error += net.train_step(streetlights[i:i + 1], walk_vs_stop[i:i + 1])
    if iteration % 20 == 19:
        print("Error:", layer_2_error)
