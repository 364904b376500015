# expect: wrong 34|35 batch-average-wrong-size: in batches of 2 the summed weight delta is divided by len(streetlights) (4), not by the batch size.
import numpy as np

np.random.seed(34)

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
batch_size = 2
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1

for iteration in range(200):
    layer_2_error = 0
    for b in range(len(streetlights) // batch_size):
        lo, hi = b * batch_size, (b + 1) * batch_size
        layer_0 = streetlights[lo:hi]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[lo:hi]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[lo:hi]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
        # average over the data
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta) / len(streetlights)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta) / len(streetlights)
    if iteration % 50 == 49:
        print("Error:" + str(layer_2_error))
