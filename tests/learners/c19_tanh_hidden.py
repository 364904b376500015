# expect: clean
import numpy as np

np.random.seed(9)

def tanh(x):
    return np.tanh(x)

def tanh2deriv(output):
    return 1 - output ** 2

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

alpha = 0.2
hidden_size = 4
weights_0_1 = 0.5 * (2 * np.random.random((3, hidden_size)) - 1)
weights_1_2 = 0.5 * (2 * np.random.random((hidden_size, 1)) - 1)

for iteration in range(200):
    layer_2_error = 0
    for i in range(len(streetlights)):
        layer_0 = streetlights[i:i+1]
        layer_1 = tanh(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * tanh2deriv(layer_1)
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    if iteration % 50 == 49:
        print("Error:" + str(layer_2_error))
