// Training checkpoints: model, optimizer, scheduler, epoch and the random generator's position in
// one safetensors file, so a run resumed from it continues exactly as if it had not stopped.
//   tensors:  model.<state name>                the model's state dict
//             optimizer.state.<index>.<key>     the optimizer's state tensors (exp_avg, ...)
//   metadata: tensorforge.checkpoint            JSON: { version, epoch, rng, optimizer: { kind,
//             paramGroups, scalars }, scheduler, extra }
import { Tensor } from '../tensor';
import type { Module } from '../nn/module';
import type { AnyOptimizer, OptimizerStateDict } from '../optim/optimizer';
import type { LRScheduler } from '../optim/lrScheduler';
import { getRngState, setRngState } from '../ops/creation';
import { save, loadWithMetadata } from './safetensors';
import { ArgumentError, FormatError } from '../errors';

const KEY = 'tensorforge.checkpoint';

export interface CheckpointParts {
  model: Module<any, any>;  // eslint-disable-line @typescript-eslint/no-explicit-any
  optimizer?: AnyOptimizer | null;
  scheduler?: LRScheduler | null;
}
export interface CheckpointInfo {
  /** epochs completed when the checkpoint was written */
  epoch: number;
  /** whatever JSON-able value the caller saved with it */
  extra: unknown;
}

export function saveCheckpoint(path: string, parts: CheckpointParts & { epoch: number; extra?: unknown }): void {
  const { model, optimizer, scheduler, epoch } = parts;
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ArgumentError(`saveCheckpoint: epoch must be a non-negative integer, got ${epoch}`);
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(model.stateDict())) tensors[`model.${k}`] = t;
  let opt: unknown = null;
  if (optimizer) {
    const sd = optimizer.stateDict();
    const scalars: Record<string, Record<string, number>> = {};
    for (const [i, st] of Object.entries(sd.state)) {
      for (const [key, v] of Object.entries(st)) {
        if (v instanceof Tensor) tensors[`optimizer.state.${i}.${key}`] = v;
        else (scalars[i] ??= {})[key] = v;
      }
    }
    opt = { kind: optimizer.constructor.name, paramGroups: sd.paramGroups, scalars };
  }
  const meta = { version: 1, epoch, rng: getRngState(), optimizer: opt, scheduler: scheduler?.stateDict() ?? null, extra: parts.extra ?? null };
  save(tensors, path, { metadata: { format: 'pt', [KEY]: JSON.stringify(meta) } });
}

/** Restores what saveCheckpoint wrote into the given model (and optimizer, scheduler), and the
 *  random generator's position. Everything is checked before the first value is written. */
export function loadCheckpoint(path: string, parts: CheckpointParts): CheckpointInfo {
  const { tensors, metadata } = loadWithMetadata(path);
  try {
    let meta: { version: number; epoch: number; rng: { seed: number; offset: number }; optimizer: { kind: string; paramGroups: OptimizerStateDict['paramGroups']; scalars: Record<string, Record<string, number>> } | null; scheduler: unknown; extra: unknown };
    try {
      meta = JSON.parse(metadata[KEY] ?? 'null');
    } catch {
      throw new FormatError(`${path}: the checkpoint metadata is not valid JSON`);
    }
    if (!meta || meta.version !== 1 || !Number.isSafeInteger(meta.epoch)) throw new FormatError(`${path}: not a tensorforge checkpoint (no '${KEY}' metadata of version 1)`);
    const modelState: Record<string, Tensor> = {};
    const optState: OptimizerStateDict['state'] = {};
    for (const [name, t] of Object.entries(tensors)) {
      const m = /^optimizer\.state\.(\d+)\.(.+)$/.exec(name);
      if (name.startsWith('model.')) modelState[name.slice(6)] = t;
      else if (m) (optState[Number(m[1])] ??= {})[m[2]] = t;
      else throw new FormatError(`${path}: unexpected tensor '${name}' in a checkpoint`);
    }
    if (parts.optimizer) {
      if (!meta.optimizer) throw new ArgumentError(`${path}: the checkpoint holds no optimizer state`);
      if (meta.optimizer.kind !== parts.optimizer.constructor.name)
        throw new ArgumentError(`${path}: the checkpoint's optimizer is ${meta.optimizer.kind}, not ${parts.optimizer.constructor.name}`);
      for (const [i, sc] of Object.entries(meta.optimizer.scalars ?? {})) Object.assign((optState[Number(i)] ??= {}), sc);
    }
    if (parts.scheduler && !meta.scheduler) throw new ArgumentError(`${path}: the checkpoint holds no scheduler state`);
    // the model first: loadStateDict validates everything before copying
    parts.model.loadStateDict(modelState);
    parts.optimizer?.loadStateDict({ state: optState, paramGroups: meta.optimizer!.paramGroups });
    if (parts.scheduler) parts.scheduler.loadStateDict(meta.scheduler as Parameters<LRScheduler['loadStateDict']>[0]);
    setRngState(meta.rng);
    return { epoch: meta.epoch, extra: meta.extra };
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}
