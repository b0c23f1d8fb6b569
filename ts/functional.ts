// tf.F: the functional network API (torch.nn.functional): stateless ops on tensors, NCHW layout.
export { relu, sigmoid, tanh } from './ops/elementwise';
export { linear } from './ops/linalg';
export { conv2d, type Conv2dOptions } from './ops/conv';
