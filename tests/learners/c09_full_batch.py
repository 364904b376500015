# expect: clean
# full-batch gradient descent: all four streetlights at once, average the weight deltas
import numpy as np

np.random.seed(11)

def relu(x):
    return (x > 0) * x

def relu2deriv(output):
    return output > 0

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

alpha = 0.5
hidden_size = 6
weights_0_1 = 2 * np.random.random((3, hidden_size)) - 1
weights_1_2 = 2 * np.random.random((hidden_size, 1)) - 1

for iteration in range(300):
    layer_0 = streetlights
    layer_1 = relu(np.dot(layer_0, weights_0_1))
    layer_2 = np.dot(layer_1, weights_1_2)

    layer_2_error = np.sum((layer_2 - walk_vs_stop) ** 2)

    layer_2_delta = layer_2 - walk_vs_stop
    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)

    weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta) / len(layer_0)
    weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta) / len(layer_0)

    if iteration % 50 == 49:
        print("Error:" + str(layer_2_error))
