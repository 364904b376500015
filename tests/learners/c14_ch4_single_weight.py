# expect: clean
# Chapter 4: learning a single weight with gradient descent (+ alpha)
weight = 0.3
input = 1.5
goal_pred = 0.9
alpha = 0.2

for iteration in range(25):
    pred = input * weight
    error = (pred - goal_pred) ** 2
    delta = pred - goal_pred
    weight_delta = delta * input
    weight -= alpha * weight_delta
    print("Error:%.8f Prediction:%.8f" % (error, pred))
