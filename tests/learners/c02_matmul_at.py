# expect: clean
"""My take on the streetlight network, using Python's @ for matrix products."""
import numpy as np

np.random.seed(7)

relu = lambda x: (x > 0) * x
relu2deriv = lambda out: (out > 0).astype(float)

streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=float)
walk_vs_stop = np.array([[1], [1], [0], [0]], dtype=float)

alpha = 0.1
n_hidden = 5
weights_0_1 = 2 * np.random.random((3, n_hidden)) - 1
weights_1_2 = 2 * np.random.random((n_hidden, 1)) - 1

for epoch in range(100):
    layer_2_error = 0.0
    for i in range(len(streetlights)):
        layer_0 = streetlights[i:i+1]
        goal = walk_vs_stop[i:i+1]

        layer_1 = relu(layer_0 @ weights_0_1)
        layer_2 = layer_1 @ weights_1_2
        layer_2_error += np.sum((layer_2 - goal) ** 2)

        layer_2_delta = layer_2 - goal
        layer_1_delta = (layer_2_delta @ weights_1_2.T) * relu2deriv(layer_1)

        weights_1_2 -= alpha * (layer_1.T @ layer_2_delta)
        weights_0_1 -= alpha * (layer_0.T @ layer_1_delta)

    if epoch % 20 == 0 or epoch == 99:
        print(f"epoch {epoch:3d}  error {layer_2_error:.6f}")
