# expect: clean
weight = 0.1
goal_pred = 0.5
input = 3.0
alpha = 0.05

for iteration in range(30):
    pred = input * weight
    error = (pred - goal_pred) ** 2
    delta = pred - goal_pred
    weight_delta = delta * input
    weight -= alpha * weight_delta
    print(f"Error:{error:.8f} Prediction:{pred:.6f}")
