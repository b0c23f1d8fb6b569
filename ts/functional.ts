// tf.F: the functional network API (torch.nn.functional): stateless ops on tensors, NCHW layout.
export { relu, sigmoid, tanh, gelu, silu, softplus, leakyRelu, elu } from './ops/activation';
export { linear } from './ops/linalg';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, adaptiveMaxPool2d } from './ops/pool';
export { softmax, logSoftmax } from './ops/softmax';
export { crossEntropy, nllLoss, mseLoss, binaryCrossEntropyWithLogits, binaryCrossEntropy } from './ops/loss';
export { layerNorm, batchNorm, batchNorm2d, dropout, embedding } from './ops/norm';
export type { BatchNormOptions } from './ops/norm';
export { scaledDotProductAttention, type AttentionOptions } from './ops/attention';
export type { MaxPool2dOptions, AvgPool2dOptions, OutputSize } from './ops/pool';
export { conv2d, type Conv2dOptions } from './ops/conv';
