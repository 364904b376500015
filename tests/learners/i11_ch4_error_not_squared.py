# expect: wrong 9 error-not-squared: chapter 4's error is (pred - goal_pred) ** 2; this one is just the difference.
weight = 0.5
goal_pred = 0.8
input = 0.5
alpha = 1.0

for iteration in range(20):
    pred = input * weight
    error = pred - goal_pred
    delta = pred - goal_pred
    weight_delta = delta * input
    weight = weight - alpha * weight_delta
    print("Error:" + str(error) + " Prediction:" + str(pred))
