// tf.nn: modules (layers, losses) and initialisers.
export { Module, parameter, isParameter, stateName } from './module';
export type { StateDict, LoadResult } from './module';
export * from './layers';
export * from './loss';
export * from './rnn';
export * as init from './init';
export * from './transformer';
