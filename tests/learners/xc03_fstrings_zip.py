# expect: clean
import numpy as np

np.random.seed(11)

relu = lambda x: np.maximum(x, 0)
relu2deriv = lambda output: (output > 0).astype(float)

streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=float)
walk_vs_stop = np.array([1, 1, 0, 0], dtype=float)

alpha = 0.12
weights_0_1 = np.random.uniform(-1, 1, size=(3, 6))
weights_1_2 = np.random.uniform(-1, 1, size=(6, 1))

for epoch in range(70):
    layer_2_error = 0.0
    for row, target in zip(streetlights, walk_vs_stop):
        layer_0 = row.reshape(1, -1)
        layer_1 = relu(layer_0 @ weights_0_1)
        layer_2 = layer_1 @ weights_1_2
        layer_2_error += float(np.sum((layer_2 - target) ** 2))
        layer_2_delta = layer_2 - target
        layer_1_delta = (layer_2_delta @ weights_1_2.T) * relu2deriv(layer_1)
        weights_1_2 -= alpha * (layer_1.T @ layer_2_delta)
        weights_0_1 -= alpha * (layer_0.T @ layer_1_delta)
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1:3d}  error {layer_2_error:.6f}")
