# expect: wrong 30 minibatch-tail-dropped: int(6 / 4) gives one batch per pass, so rows 4 and 5 are never trained on.
import numpy as np

np.random.seed(9)


def relu(x):
    return (x > 0) * x


def relu2deriv(output):
    return output > 0


streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1],
                         [0, 1, 1],
                         [1, 0, 1]])
walk_vs_stop = np.array([[0, 1, 0, 1, 1, 0]]).T

alpha = 0.2
batch_size = 4
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1

for iteration in range(200):
    layer_2_error = 0
    for b in range(int(len(streetlights) / batch_size)):
        batch_start, batch_end = b * batch_size, (b + 1) * batch_size
        layer_0 = streetlights[batch_start:batch_end]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[batch_start:batch_end]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[batch_start:batch_end]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta) / batch_size
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta) / batch_size
    if iteration % 50 == 49:
        print("Error:" + str(layer_2_error))
