# expect: clean
import numpy as np

# relu via np.maximum, derivative via np.where
def relu(x):
    return np.maximum(0, x)

def relu2deriv(output):
    return np.where(output > 0, 1.0, 0.0)

np.random.seed(2)

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

alpha = 0.15
hidden = 6

weights_0_1 = np.random.uniform(-1, 1, (3, hidden))
weights_1_2 = np.random.uniform(-1, 1, (hidden, 1))

for it in range(80):
    layer_2_error = 0
    for i in range(4):
        layer_0 = streetlights[i:i+1]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        layer_1_delta = np.dot(layer_2_delta, weights_1_2.T) * relu2deriv(layer_1)
        weights_1_2 -= alpha * np.dot(layer_1.T, layer_2_delta)
        weights_0_1 -= alpha * np.dot(layer_0.T, layer_1_delta)
    if it % 20 == 19:
        print("iter", it, "error", round(float(layer_2_error), 5))
