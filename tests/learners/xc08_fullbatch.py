# expect: clean
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
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

alpha = 0.3
batch_size = streetlights.shape[0]
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1

for iteration in range(400):
    layer_0 = streetlights
    layer_1 = relu(layer_0 @ weights_0_1)
    layer_2 = layer_1 @ weights_1_2
    layer_2_error = np.sum((layer_2 - walk_vs_stop) ** 2)
    layer_2_delta = layer_2 - walk_vs_stop
    layer_1_delta = (layer_2_delta @ weights_1_2.T) * relu2deriv(layer_1)
    weights_1_2 -= alpha * (layer_1.T @ layer_2_delta) / batch_size
    weights_0_1 -= alpha * (layer_0.T @ layer_1_delta) / batch_size
    if iteration % 100 == 99:
        print("Error: {:.6f}".format(layer_2_error))
