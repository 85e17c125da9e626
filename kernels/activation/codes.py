"""The one table of activation codes (name -> int), read by the activation kernels, the fused MLP's
workspace, both backends and fastnn.fused; activation.cu and gemm/sgemm.cu spell the same codes in C
(tests/kernels/test_activation_codes.py checks their comments against this table)."""
ACT = {"none": 0, "relu": 1, "sigmoid": 2, "tanh": 3}
ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH = ACT["none"], ACT["relu"], ACT["sigmoid"], ACT["tanh"]

# fastnn.nn module class name -> activation name (the layers the fused MLP path accepts)
MODULES = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}


def act_code(act):
    """The code of activation name `act`; ValueError naming the choices otherwise."""
    if act not in ACT:
        raise ValueError(f"unknown activation {act!r} (expected one of {sorted(ACT)})")
    return ACT[act]
