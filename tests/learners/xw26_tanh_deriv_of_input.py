# expect: wrong 14|29 derivative-in-terms-of-input: the tanh derivative is written as 1 - tanh(x)**2 but given layer_1, which is already tanh of x.
import numpy as np

np.random.seed(21)

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T


def tanh2deriv(x):
    return 1 - np.tanh(x) ** 2


alpha = 0.1
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1

for iteration in range(100):
    layer_2_error = 0
    for i in range(len(streetlights)):
        layer_0 = streetlights[i:i+1]
        layer_1 = np.tanh(layer_0.dot(weights_0_1))
        layer_2 = layer_1.dot(weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * tanh2deriv(layer_1)
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    if iteration % 20 == 19:
        print("Error:" + str(layer_2_error))
