// tf.F: the functional network API (torch.nn.functional): stateless ops on tensors, NCHW layout.
export { relu, sigmoid, tanh } from './ops/elementwise';
export { linear } from './ops/linalg';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, adaptiveMaxPool2d } from './ops/pool';
export type { MaxPool2dOptions, AvgPool2dOptions, OutputSize } from './ops/pool';
