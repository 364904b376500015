# expect: clean
# training split into a function; call it a few times and watch the error
import numpy as np

np.random.seed(10)

def relu(x):
    return (x > 0) * x

def relu2deriv(output):
    return output > 0

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1], [1], [0], [0]])
alpha = 0.2


def train(weights_0_1, weights_1_2, passes=20):
    """one or more passes over the data; updates the weights in place"""
    for _ in range(passes):
        layer_2_error = 0
        for i in range(len(streetlights)):
            layer_0 = streetlights[i:i+1]
            layer_1 = relu(layer_0.dot(weights_0_1))
            layer_2 = layer_1.dot(weights_1_2)
            layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
            layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
            weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
            weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    print("error after this round:", layer_2_error)
    return weights_0_1, weights_1_2


weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1

for round_number in range(3):
    weights_0_1, weights_1_2 = train(weights_0_1, weights_1_2)
