// tf.optim: optimizers (fused native update kernels), learning-rate schedulers and gradient
// clipping, with PyTorch 1.13 semantics and defaults.
export { Optimizer } from './optimizer';
export type { ParamGroup, ParamGroupSpec, Params, ParamState, OptimizerStateDict, Hyper, Hypers } from './optimizer';
export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export { Adam, AdamW } from './adam';
export type { AdamOptions } from './adam';
export { RMSprop } from './rmsprop';
export type { RMSpropOptions } from './rmsprop';
export { LRScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, LambdaLR, SequentialLR } from './lrScheduler';
export type { SchedulerStateDict } from './lrScheduler';
export { clipGradNorm, clipGradValue } from './clip';
