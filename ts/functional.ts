// tf.F: the functional network API (torch.nn.functional): stateless ops on tensors, NCHW layout.
export { relu, sigmoid, tanh, gelu, silu, softplus, leakyRelu, elu } from './ops/activation';
export { linear } from './ops/linalg';
export { layerNorm, batchNorm, batchNorm2d, dropout, embedding } from './ops/norm';
export type { BatchNormOptions } from './ops/norm';
