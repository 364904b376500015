# expect: clean
# Chapter 6 before backprop: one weight per light, learn from the whole dataset
import numpy as np

weights = np.array([0.2, -0.1, 0.4])
alpha = 0.05

streetlights = np.array([[1, 0, 1],
                         [0, 1, 1],
                         [0, 0, 1],
                         [1, 1, 1],
                         [0, 1, 1],
                         [1, 0, 1]])
walk_vs_stop = np.array([0, 1, 0, 1, 1, 0])

for iteration in range(30):
    error_for_all_lights = 0
    for row_index in range(len(walk_vs_stop)):
        input = streetlights[row_index]
        goal_prediction = walk_vs_stop[row_index]

        prediction = input.dot(weights)
        error = (goal_prediction - prediction) ** 2
        error_for_all_lights += error

        delta = prediction - goal_prediction
        weights = weights - alpha * (input * delta)
    if iteration % 5 == 4:
        print("Error: {:.6f}".format(error_for_all_lights))
