"""VM step costs of minidnn's kernels, written by `python -m converter.calibrate` (do not edit by hand).

Calibrated on runtime.elf in the VM (fast runner). Ops in NOT_MEASURED kept earlier values.
"""

STARTUP = 1597
PER_MAC = {
    'Gemm': 137, 'MatMul': 137, 'Conv': 136, 'ConvTranspose': 116, 'QLinearMatMul': 10, 'QGemm': 10,
    'MatMulInteger': 10, 'QLinearConv': 15, 'ConvInteger': 15
}
PER_ELEMENT = {
    'Identity': 8, 'Reshape': 8, 'Flatten': 8, 'Squeeze': 8, 'Unsqueeze': 8, 'Transpose': 30,
    'Concat': 12, 'Gather': 15, 'Resize': 1078, 'Relu': 19, 'LeakyRelu': 56, 'Clip': 124, 'Add': 95,
    'Sub': 96, 'Mul': 82, 'Div': 118, 'Tanh': 1345, 'Gelu': 2205, 'Sigmoid': 1599, 'Erf': 2002,
    'BatchNormalization': 152, 'LayerNormalization': 536, 'Softmax': 1695, 'LogSoftmax': 1820,
    'MaxPool': 10, 'AveragePool': 10, 'GlobalAveragePool': 10, 'ConvTranspose': 45, 'Sqrt': 85,
    'Exp': 1404, 'Log': 800, 'Reciprocal': 118, 'Softplus': 3329, 'Sin': 1182, 'Cos': 1237, 'Elu':
    1381, 'PRelu': 68, 'Equal': 40, 'Less': 42, 'Greater': 42, 'Pow': 264, 'Where': 46, 'Expand':
    33, 'Cast': 36, 'Slice': 31, 'Not': 12, 'ReduceSum': 0, 'ReduceMean': 0, 'ReduceMax': 0, 'Abs':
    13, 'Floor': 27, 'Ceil': 27, 'Max': 59, 'Min': 59, 'LessOrEqual': 45, 'GreaterOrEqual': 45,
    'And': 16, 'Or': 15, 'Xor': 18, 'ArgMax': 0, 'ArgMin': 0, 'DequantizeLinear': 115,
    'QuantizeLinear': 245, 'QLinearMatMul': 224, 'QGemm': 224, 'MatMulInteger': 224, 'QLinearConv':
    235, 'ConvInteger': 235
}
PER_WINDOW_ELEMENT = {
    'MaxPool': 64, 'AveragePool': 158, 'GlobalAveragePool': 75, 'ReduceSum': 98, 'ReduceMean': 105,
    'ReduceMax': 87, 'ArgMax': 36, 'ArgMin': 36
}
CONV_TRANSPOSE_COLUMN = 45
RUNTIME_SHA256 = 'a356be8b8367f3b8e02377019007ebd5fd2a4a21ac0b5d4cc34051fbefc8b71b'
NOT_MEASURED = []
