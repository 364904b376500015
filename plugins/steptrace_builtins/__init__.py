"""steptrace's built-in rules, registered through the same public hooks as any plugin.

- :mod:`.nonlinearities`: linear, relu, sigmoid, tanh
- :mod:`.strategies`: stochastic, full, minibatch
- :mod:`.hot_and_cold`: the ch. 4 hot and cold learning, a strategy with its own rule
- :mod:`.book`: the book's experiments (``experiments/*.toml``)
"""
