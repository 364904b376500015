"""The book's own programs, chapters 4 to 6, written out as a learner types them.

Each is the cell of *Grokking Deep Learning* whose printed output ``tests/book/chNN.json``
holds under the same id (the built-in experiment of that name), as a script that runs on
its own: where the book's cell used names an earlier cell defined (chapter 6's
``streetlights`` and ``walk_vs_stop`` before "Backpropagation in Code", chapter 5's
``ele_mul``), they are defined first, as the notebook had them. ``tests/test_learner.py``
runs each and checks that it prints what the book printed, and that ``steptrace check``
finds every step of it clean.
"""

from __future__ import annotations

#: Hot and cold learning, chapter 4's first learning rule: not gradient descent (it moves
#: the weight by a fixed step), so not in PROGRAMS: steptrace check says where they part.
CH04_HOT_AND_COLD_LEARNING = """\
weight = 0.5
input = 0.5
goal_prediction = 0.8

step_amount = 0.001

for iteration in range(1101):

    prediction = input * weight
    error = (prediction - goal_prediction) ** 2

    print("Error:" + str(error) + " Prediction:" + str(prediction))

    up_prediction = input * (weight + step_amount)
    up_error = (goal_prediction - up_prediction) ** 2

    down_prediction = input * (weight - step_amount)
    down_error = (goal_prediction - down_prediction) ** 2

    if(down_error < up_error):
        weight = weight - step_amount

    if(down_error > up_error):
        weight = weight + step_amount
"""

CH04_DIRECTION_AND_AMOUNT = """\
weight = 0.5
goal_pred = 0.8
input = 0.5

for iteration in range(20):
    pred = input * weight
    error = (pred - goal_pred) ** 2
    direction_and_amount = (pred - goal_pred) * input
    weight = weight - direction_and_amount

    print("Error:" + str(error) + " Prediction:" + str(pred))
"""

CH04_WATCH_SEVERAL_STEPS = """\
weight, goal_pred, input = (0.0, 0.8, 1.1)

for iteration in range(4):
    print("-----\\nWeight:" + str(weight))
    pred = input * weight
    error = (pred - goal_pred) ** 2
    delta = pred - goal_pred
    weight_delta = delta * input
    weight = weight - weight_delta
    print("Error:" + str(error) + " Prediction:" + str(pred))
    print("Delta:" + str(delta) + " Weight Delta:" + str(weight_delta))
"""

CH04_DERIVATIVE_TO_LEARN = """\
weight = 0.0
goal_pred = 0.8
input = 1.1

for iteration in range(4):
    pred = input * weight
    error = (pred - goal_pred) ** 2
    delta = pred - goal_pred
    weight_delta = delta * input
    weight = weight - weight_delta
    print("Error:" + str(error) + " Prediction:" + str(pred))
"""

CH04_BREAKING_GD_DIVERGE = """\
weight = 0.5
goal_pred = 0.8
input = 2

for iteration in range(20):
    pred = input * weight
    error = (pred - goal_pred) ** 2
    delta = pred - goal_pred
    weight_delta = input * delta
    weight = weight - weight_delta
    print("Error:" + str(error) + " Prediction:" + str(pred))
"""

CH04_ALPHA = """\
weight = 0.5
goal_pred = 0.8
input = 2
alpha = 0.1

for iteration in range(20):
    pred = input * weight
    error = (pred - goal_pred) ** 2
    derivative = input * (pred - goal_pred)
    weight = weight - (alpha * derivative)

    print("Error:" + str(error) + " Prediction:" + str(pred))
"""

CH05_MULTI_INPUT_ONE_STEP = """\
def w_sum(a,b):
    assert(len(a) == len(b))
    output = 0

    for i in range(len(a)):
        output += (a[i] * b[i])

    return output

weights = [0.1, 0.2, -.1]

def neural_network(input,weights):
    pred = w_sum(input,weights)
    return pred

toes =  [8.5 , 9.5, 9.9, 9.0]
wlrec = [0.65, 0.8, 0.8, 0.9]
nfans = [1.2 , 1.3, 0.5, 1.0]

win_or_lose_binary = [1, 1, 0, 1]

true = win_or_lose_binary[0]

# Input corresponds to every entry
# for the first game of the season.

input = [toes[0],wlrec[0],nfans[0]]

pred = neural_network(input,weights)
error = (pred - true) ** 2
delta = pred - true

def ele_mul(number,vector):
    output = [0,0,0]

    assert(len(output) == len(vector))

    for i in range(len(vector)):
        output[i] = number * vector[i]

    return output

weight_deltas = ele_mul(delta,input)

alpha = 0.01

for i in range(len(weights)):
    weights[i] -= alpha * weight_deltas[i]

print("Weights:" + str(weights))
print("Weight Deltas:" + str(weight_deltas))
"""

CH05_MULTI_INPUT_THREE_STEPS = """\
def neural_network(input, weights):
  out = 0
  for i in range(len(input)):
    out += (input[i] * weights[i])
  return out

def ele_mul(scalar, vector):
  out = [0,0,0]
  for i in range(len(out)):
    out[i] = vector[i] * scalar
  return out

toes =  [8.5, 9.5, 9.9, 9.0]
wlrec = [0.65, 0.8, 0.8, 0.9]
nfans = [1.2, 1.3, 0.5, 1.0]

win_or_lose_binary = [1, 1, 0, 1]
true = win_or_lose_binary[0]

alpha = 0.01
weights = [0.1, 0.2, -.1]
input = [toes[0],wlrec[0],nfans[0]]

for iter in range(3):

  pred = neural_network(input,weights)

  error = (pred - true) ** 2
  delta = pred - true

  weight_deltas=ele_mul(delta,input)

  print("Iteration:" + str(iter+1))
  print("Pred:" + str(pred))
  print("Error:" + str(error))
  print("Delta:" + str(delta))
  print("Weights:" + str(weights))
  print("Weight_Deltas:")
  print(str(weight_deltas))
  print(
  )

  for i in range(len(weights)):
    weights[i]-=alpha*weight_deltas[i]
"""

CH05_FREEZE_ONE_WEIGHT = CH05_MULTI_INPUT_THREE_STEPS.replace(
    "alpha = 0.01", "alpha = 0.3").replace(
    "  weight_deltas=ele_mul(delta,input)\n",
    "  weight_deltas=ele_mul(delta,input)\n  weight_deltas[0] = 0\n")

CH05_MULTI_OUTPUT_ONE_STEP = """\
def ele_mul(number,vector):
    output = [0,0,0]

    assert(len(output) == len(vector))

    for i in range(len(vector)):
        output[i] = number * vector[i]

    return output

# Instead of predicting just
# whether the team won or lost,
# now we're also predicting whether
# they are happy/sad AND the percentage
# of the team that is hurt. We are
# making this prediction using only
# the current win/loss record.

weights = [0.3, 0.2, 0.9]

def neural_network(input, weights):
    pred = ele_mul(input,weights)
    return pred

wlrec = [0.65, 1.0, 1.0, 0.9]

hurt  = [0.1, 0.0, 0.0, 0.1]
win   = [  1,   1,   0,   1]
sad   = [0.1, 0.0, 0.1, 0.2]

input = wlrec[0]
true = [hurt[0], win[0], sad[0]]

pred = neural_network(input,weights)

error = [0, 0, 0]
delta = [0, 0, 0]

for i in range(len(true)):

    error[i] = (pred[i] - true[i]) ** 2
    delta[i] = pred[i] - true[i]

def scalar_ele_mul(number,vector):
    output = [0,0,0]

    assert(len(output) == len(vector))

    for i in range(len(vector)):
        output[i] = number * vector[i]

    return output

weight_deltas = scalar_ele_mul(input,delta)

alpha = 0.1

for i in range(len(weights)):
    weights[i] -= (weight_deltas[i] * alpha)

print("Weights:" + str(weights))
print("Weight Deltas:" + str(weight_deltas))
"""

CH05_MULTI_INPUT_MULTI_OUTPUT_ONE_STEP = """\
import numpy as np
            #toes %win #fans
weights = [ [0.1, 0.1, -0.3],#hurt?
            [0.1, 0.2, 0.0], #win?
            [0.0, 1.3, 0.1] ]#sad?

def w_sum(a,b):
    assert(len(a) == len(b))
    output = 0
    for i in range(len(a)):
        output += (a[i] * b[i])
    return output

def vect_mat_mul(vect,matrix):
    assert(len(vect) == len(matrix))
    output = [0,0,0]
    for i in range(len(vect)):
        output[i] = w_sum(vect,matrix[i])
    return output

def neural_network(input, weights):
    pred = vect_mat_mul(input,weights)
    return pred

toes  = [8.5, 9.5, 9.9, 9.0]
wlrec = [0.65,0.8, 0.8, 0.9]
nfans = [1.2, 1.3, 0.5, 1.0]

hurt  = [0.1, 0.0, 0.0, 0.1]
win   = [  1,   1,   0,   1]
sad   = [0.1, 0.0, 0.1, 0.2]

alpha = 0.01

input = [toes[0],wlrec[0],nfans[0]]
true  = [hurt[0], win[0], sad[0]]

pred = neural_network(input,weights)

error = [0, 0, 0]
delta = [0, 0, 0]

for i in range(len(true)):
    error[i] = (pred[i] - true[i]) ** 2
    delta[i] = pred[i] - true[i]

def outer_prod(a, b):

    # just a matrix of zeros
    out = np.zeros((len(a), len(b)))

    for i in range(len(a)):
        for j in range(len(b)):
            out[i][j] = a[i] * b[j]
    return out

weight_deltas = outer_prod(delta,input)

for i in range(len(weights)):
    for j in range(len(weights[0])):
        weights[i][j] -= alpha * weight_deltas[i][j]

weights
"""

CH06_STREETLIGHT_SINGLE_SAMPLE = """\
import numpy as np
weights = np.array([0.5,0.48,-0.7])
alpha = 0.1

streetlights = np.array( [ [ 1, 0, 1 ],
                           [ 0, 1, 1 ],
                           [ 0, 0, 1 ],
                           [ 1, 1, 1 ],
                           [ 0, 1, 1 ],
                           [ 1, 0, 1 ] ] )

walk_vs_stop = np.array( [ 0, 1, 0, 1, 1, 0 ] )

input = streetlights[0] # [1,0,1]
goal_prediction = walk_vs_stop[0] # equals 0... i.e. "stop"

for iteration in range(20):
    prediction = input.dot(weights)
    error = (goal_prediction - prediction) ** 2
    delta = prediction - goal_prediction
    weights = weights - (alpha * (input * delta))

    print("Error:" + str(error) + " Prediction:" + str(prediction))
"""

CH06_STREETLIGHTS_FULL_DATASET = """\
import numpy as np

weights = np.array([0.5,0.48,-0.7])
alpha = 0.1

streetlights = np.array( [[ 1, 0, 1 ],
                          [ 0, 1, 1 ],
                          [ 0, 0, 1 ],
                          [ 1, 1, 1 ],
                          [ 0, 1, 1 ],
                          [ 1, 0, 1 ] ] )

walk_vs_stop = np.array( [ 0, 1, 0, 1, 1, 0 ] )

input = streetlights[0] # [1,0,1]
goal_prediction = walk_vs_stop[0] # equals 0... i.e. "stop"

for iteration in range(40):
    error_for_all_lights = 0
    for row_index in range(len(walk_vs_stop)):
        input = streetlights[row_index]
        goal_prediction = walk_vs_stop[row_index]

        prediction = input.dot(weights)

        error = (goal_prediction - prediction) ** 2
        error_for_all_lights += error

        delta = prediction - goal_prediction
        weights = weights - (alpha * (input * delta))
        print("Prediction:" + str(prediction))
    print("Error:" + str(error_for_all_lights) + "\\n")
"""

CH06_STREETLIGHTS_BACKPROP = """\
import numpy as np

np.random.seed(1)

def relu(x):
    return (x > 0) * x # returns x if x > 0
                       # return 0 otherwise

def relu2deriv(output):
    return output>0 # returns 1 for input > 0
                    # return 0 otherwise

streetlights = np.array( [[ 1, 0, 1 ],
                          [ 0, 1, 1 ],
                          [ 0, 0, 1 ],
                          [ 1, 1, 1 ] ] )

walk_vs_stop = np.array([[ 1, 1, 0, 0]]).T

alpha = 0.2
hidden_size = 4

weights_0_1 = 2*np.random.random((3,hidden_size)) - 1
weights_1_2 = 2*np.random.random((hidden_size,1)) - 1

for iteration in range(60):
   layer_2_error = 0
   for i in range(len(streetlights)):
      layer_0 = streetlights[i:i+1]
      layer_1 = relu(np.dot(layer_0,weights_0_1))
      layer_2 = np.dot(layer_1,weights_1_2)

      layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i+1]) ** 2)

      layer_2_delta = (layer_2 - walk_vs_stop[i:i+1])
      layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)

      weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
      weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)

   if(iteration % 10 == 9):
      print("Error:" + str(layer_2_error))
"""

CH06_STREETLIGHTS_BACKPROP_ASCENT_FORM = CH06_STREETLIGHTS_BACKPROP.replace(
    "layer_2_delta = (layer_2 - walk_vs_stop[i:i+1])",
    "layer_2_delta = (walk_vs_stop[i:i+1] - layer_2)").replace(
    "weights_1_2 -= ", "weights_1_2 += ").replace("weights_0_1 -= ", "weights_0_1 += ")

#: The programs by the id of the book's cell (and of the built-in experiment).
PROGRAMS = {
    "ch04-direction-and-amount": CH04_DIRECTION_AND_AMOUNT,
    "ch04-watch-several-steps": CH04_WATCH_SEVERAL_STEPS,
    "ch04-derivative-to-learn": CH04_DERIVATIVE_TO_LEARN,
    "ch04-breaking-gd-diverge": CH04_BREAKING_GD_DIVERGE,
    "ch04-alpha": CH04_ALPHA,
    "ch05-multi-input-one-step": CH05_MULTI_INPUT_ONE_STEP,
    "ch05-multi-input-three-steps": CH05_MULTI_INPUT_THREE_STEPS,
    "ch05-freeze-one-weight": CH05_FREEZE_ONE_WEIGHT,
    "ch05-multi-output-one-step": CH05_MULTI_OUTPUT_ONE_STEP,
    "ch05-multi-input-multi-output-one-step": CH05_MULTI_INPUT_MULTI_OUTPUT_ONE_STEP,
    "ch06-streetlight-single-sample": CH06_STREETLIGHT_SINGLE_SAMPLE,
    "ch06-streetlights-full-dataset": CH06_STREETLIGHTS_FULL_DATASET,
    "ch06-streetlights-backprop": CH06_STREETLIGHTS_BACKPROP,
    "ch06-streetlights-backprop-ascent-form": CH06_STREETLIGHTS_BACKPROP_ASCENT_FORM,
}

#: The loop of "Putting it all together", which the batched versions below write otherwise.
_LOOP = CH06_STREETLIGHTS_BACKPROP[CH06_STREETLIGHTS_BACKPROP.index("for iteration in range(60):"):
                                   CH06_STREETLIGHTS_BACKPROP.index('      print("Error:"')]

#: The chapter 6 network under full gradient descent, the whole dataset one batch, its
#: weight_delta averaged over it (the book describes it; its chapter 8 codes it so).
STREETLIGHTS_FULL_GD = CH06_STREETLIGHTS_BACKPROP.replace(_LOOP, """\
for iteration in range(300):
   layer_0 = streetlights
   layer_1 = relu(np.dot(layer_0,weights_0_1))
   layer_2 = np.dot(layer_1,weights_1_2)

   layer_2_error = np.sum((layer_2 - walk_vs_stop) ** 2)

   layer_2_delta = (layer_2 - walk_vs_stop)
   layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)

   weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta) / len(layer_0)
   weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta) / len(layer_0)

   if(iteration % 50 == 49):
""")

#: The same in mini-batches of 2 (chapter 8's loop over batch_start, batch_end).
STREETLIGHTS_MINIBATCH = CH06_STREETLIGHTS_BACKPROP.replace(_LOOP, """\
batch_size = 2
for iteration in range(300):
   layer_2_error = 0
   for i in range(int(len(streetlights) / batch_size)):
      batch_start, batch_end = ((i * batch_size),((i+1)*batch_size))
      layer_0 = streetlights[batch_start:batch_end]
      layer_1 = relu(np.dot(layer_0,weights_0_1))
      layer_2 = np.dot(layer_1,weights_1_2)

      layer_2_error += np.sum((layer_2 - walk_vs_stop[batch_start:batch_end]) ** 2)

      layer_2_delta = (layer_2 - walk_vs_stop[batch_start:batch_end])
      layer_1_delta=layer_2_delta.dot(weights_1_2.T)*relu2deriv(layer_1)

      weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta) / batch_size
      weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta) / batch_size

   if(iteration % 50 == 49):
""")

BATCHED = {"streetlights-full-gd": STREETLIGHTS_FULL_GD, "streetlights-minibatch": STREETLIGHTS_MINIBATCH}
