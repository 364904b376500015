# expect: wrong 11 weight-delta-without-input: weight_delta is set to delta alone, leaving out the input it should be scaled by.
weight = 0.0
goal_pred = 0.8
input = 1.1
alpha = 0.5

for iteration in range(10):
    pred = input * weight
    error = (pred - goal_pred) ** 2
    delta = pred - goal_pred
    weight_delta = delta
    weight = weight - alpha * weight_delta
    print("Error:" + str(error) + " Prediction:" + str(pred))
