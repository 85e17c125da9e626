"""fastnn.kernels: every compute kernel (Numba CPU, CUDA C sources) beside its NumPy reference.

Installed as ``fastnn.kernels``. This package never imports the engine (``fastnn`` outside
``fastnn.kernels``); modules here import each other only relatively.
"""
