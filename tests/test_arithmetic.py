"""The exact mode's sums: left to right, term after term, whatever the shape."""

from __future__ import annotations

import numpy as np
import pytest

from steptrace.arithmetic import exact_dot, exact_total, reference_dot


@pytest.mark.parametrize("seed", range(6))
def test_exact_dot_is_the_running_sum_bit_for_bit(seed):
    """The fast kernels (np.add.reduce across rows) against the definition (accumulate),
    on shapes from a single product to the MNIST-sized layers of the benchmark."""
    random = np.random.RandomState(seed)
    shapes = [(1, 784, 40), (100, 784, 40), (1, 40, 10), (4, 40, 1), (1, 1000, 1), (1, 3, 4),
              (7, 1, 5), (3, 2, 2)]
    shapes += [(int(m), int(k), int(n)) for m, k, n in random.randint(1, 64, (40, 3))]
    for m, k, n in shapes:
        a = random.standard_normal((m, k)) * 10.0 ** random.randint(-3, 4, (m, k))
        b = random.standard_normal((k, n))
        # zeros of both signs, as relu makes them: sums of -0.0 must stay -0.0
        a[random.random_sample((m, k)) < 0.3] = -0.0
        b[random.random_sample((k, n)) < 0.2] = 0.0
        mine, definition = exact_dot(a, b), reference_dot(a, b)
        assert mine.shape == (m, n)
        assert mine.tobytes() == definition.tobytes(), (m, k, n)


def test_exact_sums_are_left_to_right_not_pairwise():
    """A sum whose value depends on the order: 1e16 + 1 + 1 + ... (left to right, every 1
    is lost), then -1e16; pairwise or BLAS orders keep some of the ones."""
    terms = np.array([1e16] + [1.0] * 15 + [-1e16])
    assert exact_total(terms.reshape(1, -1)) == 0.0
    column = exact_dot(terms.reshape(1, -1), np.ones((len(terms), 1)))
    assert column[0, 0] == 0.0
    wide = exact_dot(terms.reshape(1, -1), np.ones((len(terms), 3)))
    assert wide.tolist() == [[0.0, 0.0, 0.0]]
    assert float(np.sum(terms)) != 0.0  # numpy's own pairwise sum keeps some of the ones
