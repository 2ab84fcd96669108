"""Shared test setup.

One torch thread for the whole run: the tests use small tensors, which run faster single-threaded on a
shared 2-core CI machine, and no result may depend on the thread count. Figures use the Agg backend
and are closed after every test.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")
