# expect: clean
import numpy as np

np.random.seed(4)

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
batch_size = 2
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1

for iteration in range(200):
    layer_2_error = 0
    for start in range(0, len(streetlights), batch_size):
        end = start + batch_size
        layer_0 = streetlights[start:end]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)

        layer_2_error += np.sum((layer_2 - walk_vs_stop[start:end]) ** 2)

        layer_2_delta = layer_2 - walk_vs_stop[start:end]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)

        # average over the batch
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta) / batch_size
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta) / batch_size

    if iteration % 40 == 39:
        print(iteration, layer_2_error)
