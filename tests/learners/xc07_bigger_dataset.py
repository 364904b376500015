# expect: clean
import numpy as np

np.random.seed(42)

# four lights now; walk when the second light is on
streetlights = np.array([[1, 0, 1, 0],
                         [0, 1, 1, 0],
                         [0, 0, 1, 1],
                         [1, 1, 1, 0],
                         [0, 1, 0, 1],
                         [1, 0, 0, 1],
                         [1, 1, 0, 1],
                         [0, 0, 0, 1]])
walk_vs_stop = streetlights[:, 1:2].copy()


def relu(x):
    return (x > 0) * x


def relu2deriv(output):
    return output > 0


alpha = 0.1
hidden_size = 8
weights_0_1 = 2 * np.random.random((4, hidden_size)) - 1
weights_1_2 = 2 * np.random.random((hidden_size, 1)) - 1

iteration = 0
while iteration < 60:
    layer_2_error = 0
    for i in range(streetlights.shape[0]):
        layer_0 = streetlights[i:i+1]
        layer_1 = relu(layer_0.dot(weights_0_1))
        layer_2 = layer_1.dot(weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    iteration += 1
    if iteration % 15 == 0:
        print("Iteration", iteration, "Error", round(float(layer_2_error), 6))
