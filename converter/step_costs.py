"""VM step costs of minidnn's kernels, written by `python -m converter.calibrate` (do not edit by hand).

Calibrated on runtime.elf in the VM (fast runner). Ops in NOT_MEASURED kept earlier values.
"""

STARTUP = 1516
PER_MAC = {
    'Gemm': 137, 'MatMul': 137, 'Conv': 155, 'ConvTranspose': 116
}
PER_ELEMENT = {
    'Identity': 8, 'Reshape': 8, 'Flatten': 8, 'Squeeze': 8, 'Unsqueeze': 8, 'Transpose': 30,
    'Concat': 12, 'Gather': 15, 'Resize': 1078, 'Relu': 19, 'LeakyRelu': 56, 'Clip': 121, 'Add': 95,
    'Sub': 96, 'Mul': 82, 'Div': 118, 'Tanh': 1413, 'Gelu': 2292, 'Sigmoid': 1735, 'Erf': 2342,
    'BatchNormalization': 152, 'LayerNormalization': 536, 'Softmax': 1823, 'LogSoftmax': 1944,
    'MaxPool': 10, 'AveragePool': 10, 'GlobalAveragePool': 10, 'ConvTranspose': 45
}
PER_WINDOW_ELEMENT = {
    'MaxPool': 83, 'AveragePool': 154, 'GlobalAveragePool': 75
}
CONV_TRANSPOSE_COLUMN = 45
RUNTIME_SHA256 = '837e3563ba107b4628ed8217f3bda1d8d28c7b8a0463adfdae9af0bbc5f51967'
NOT_MEASURED = []
