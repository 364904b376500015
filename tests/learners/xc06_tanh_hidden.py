# expect: clean
import numpy as np

np.random.seed(21)

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1],
                         [0, 1, 1],
                         [1, 0, 1]])
walk_vs_stop = np.array([0, 1, 0, 1, 1, 0]).reshape(-1, 1)


def tanh2deriv(output):
    return 1 - output ** 2


alpha = 0.1
weights_0_1 = 0.2 * np.random.randn(3, 4)
weights_1_2 = 0.2 * np.random.randn(4, 1)

history = []
for iteration in range(150):
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
    history.append(layer_2_error)
print("first error %.4f, last error %.4f" % (history[0], history[-1]))
