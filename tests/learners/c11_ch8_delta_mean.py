# expect: clean
# mini-batches the way chapter 8 does it: the batch average goes into the output delta
import numpy as np

np.random.seed(5)

def relu(x):
    return (x > 0) * x

def relu2deriv(output):
    return output > 0

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

alpha, batch_size, hidden_size = 0.2, 2, 4
weights_0_1 = 0.2 * np.random.random((3, hidden_size)) - 0.1
weights_1_2 = 0.2 * np.random.random((hidden_size, 1)) - 0.1

for j in range(300):
    layer_2_error = 0.0
    for i in range(int(len(streetlights) / batch_size)):
        batch_start, batch_end = ((i * batch_size), ((i + 1) * batch_size))

        layer_0 = streetlights[batch_start:batch_end]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)

        layer_2_error += np.sum((walk_vs_stop[batch_start:batch_end] - layer_2) ** 2)

        layer_2_delta = (layer_2 - walk_vs_stop[batch_start:batch_end]) / batch_size
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)

        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)

    if j % 50 == 0:
        print("I:" + str(j) + " Error:" + str(layer_2_error)[0:6])
