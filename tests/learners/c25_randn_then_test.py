# expect: clean
# bigger hidden layer, gaussian init, and a check of the predictions after training
import numpy as np

np.random.seed(42)

def relu(x):
    return (x > 0) * x

def relu2deriv(output):
    return output > 0

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T

alpha = 0.05
hidden_size = 8
weights_0_1 = np.random.randn(3, hidden_size) * 0.5
weights_1_2 = np.random.randn(hidden_size, 1) * 0.5

for iteration in range(200):
    layer_2_error = 0
    for i in range(len(streetlights)):
        layer_0 = streetlights[i:i+1]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i+1]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
        weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
        weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    if iteration % 50 == 49:
        print("Error:" + str(layer_2_error))

# how did we do? run all four lights through the trained network
layer_0 = streetlights
layer_1 = relu(np.dot(layer_0, weights_0_1))
layer_2 = np.dot(layer_1, weights_1_2)
print("predictions:", layer_2.ravel().round(3))
print("targets:    ", walk_vs_stop.ravel())
