// The float64 reference: the spec every native kernel (CPU and CUDA) is tested against.
// Plain TypeScript written for clarity; PyTorch semantics throughout.
export * from './tensor';
export * from './elementwise';
export * from './reduce';
export * from './linalg';
export * from './movement';
export * from './vjp';
export * from './gradcheck';
export * from './attention';
export * from './conv';
export * from './loss';
export * from './norm';
export * from './pool';
export * from './rnn';
export * from './optim';
