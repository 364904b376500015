# expect: wrong 10|12 sign: delta is goal_pred - pred but the weight is still decreased by it, so it walks away from the goal.
weight = 0.1
input = 0.8
goal_pred = 0.6
alpha = 0.5

for iteration in range(10):
    pred = input * weight
    error = (pred - goal_pred) ** 2
    delta = goal_pred - pred
    weight_delta = delta * input
    weight = weight - alpha * weight_delta
    print("Error:" + str(error) + " Prediction:" + str(pred))
