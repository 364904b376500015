"""steptrace's built-in rules, registered through the same public hooks as any plugin.

- :mod:`.nonlinearities`: linear, relu, sigmoid, tanh
- :mod:`.strategies`: stochastic, full, minibatch
- :mod:`.book`: the book's experiments (``experiments/*.toml``)
"""
