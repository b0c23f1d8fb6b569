// The optimizer base class (torch.optim.Optimizer, PyTorch 1.13): parameter groups with their
// own hyperparameters, per-parameter state kept outside every scope, state dicts in torch's
// layout, and a step() that validates everything before it changes anything, then hands each
// parameter to its optimizer's fused native kernel (native/cpu/optim.cpp).
import { Tensor } from '../tensor';
import { keep } from '../storage';
import { noGrad } from '../autograd';
import { ArgumentError, DisposedError, DTypeError, IndexError, ShapeError, ValueError } from '../errors';
import { fmt, sameShape } from '../shape';
import { runKernel } from '../ops/kernel';
import { zeros } from '../ops/creation';

/** A hyperparameter value: a number, a flag, or a pair such as Adam's betas. */
export type Hyper = number | boolean | number[];
export type Hypers = { lr: number } & Record<string, Hyper>;

/** A parameter group: its parameters and its hyperparameters (lr may be changed freely, e.g. by
 *  a scheduler, which also records initialLr). */
export type ParamGroup<O extends Hypers = Hypers> = O & { params: Tensor[]; initialLr?: number };

/** What a constructor accepts for one group: its params plus any hyperparameters to override. */
export type ParamGroupSpec<O extends Hypers = Hypers> = { params: Iterable<Tensor> } & Partial<O>;
export type Params<O extends Hypers = Hypers> = Iterable<Tensor> | ParamGroupSpec<O>[];

/** Per-parameter state: tensors shaped like the parameter, and the step count. */
export type ParamState = Record<string, Tensor | number>;

/** torch's optimizer state_dict layout: state keyed by the parameter's index across all groups,
 *  groups with their hyperparameters under torch's names and `params` as those indices. */
export interface OptimizerStateDict {
  state: Record<number, Record<string, Tensor | number>>;
  paramGroups: Array<Record<string, number | boolean | number[]>>;
}

/** Keys torch's groups carry that mean nothing here; a PyTorch checkpoint may hold them. */
const TORCH_ONLY_GROUP_KEYS = new Set(['foreach', 'differentiable', 'capturable', 'fused']);

/** Which state entries an optimizer keeps (torch's names); 'step' is a number, the rest tensors. */
export interface StateKeys { required: string[]; optional: string[] }

const describe = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'an array' : x instanceof Tensor ? 'a Tensor' : typeof x);

/** Any optimizer, whatever its hyperparameters (what schedulers and training loops take). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOptimizer = Optimizer<any>;

export abstract class Optimizer<O extends Hypers = Hypers> {
  readonly paramGroups: ParamGroup<O>[] = [];
  /** State per parameter, created on the parameter's first step. */
  readonly state = new Map<Tensor, ParamState>();
  private disposed = false;

  /**
   * @param name     the optimizer's name, for messages
   * @param defaults every hyperparameter with its default (a group may override any of them)
   * @param torchNames the torch name of each hyperparameter, used in state dicts
   */
  protected constructor(
    protected readonly name: string,
    params: Params<O>,
    protected readonly defaults: O,
    private readonly torchNames: { [K in keyof O]: string },
  ) {
    this.checkGroup(defaults, 'options');
    if (params instanceof Tensor)
      throw new ArgumentError(`${name}: params must be an iterable of Tensors or of param groups ({ params, ...options }), got a single Tensor`);
    if (params === null || typeof params !== 'object' || typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function')
      throw new ArgumentError(`${name}: params must be an iterable of Tensors or of param groups, got ${describe(params)}`);
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw new ValueError(`${name}: optimizer got an empty parameter list`);
    const specs = list.every((x) => x instanceof Tensor) ? [{ params: list as Tensor[] }] : list;
    specs.forEach((s) => this.addParamGroup(s as ParamGroupSpec<O>));
  }

  /** Throws ValueError if a group's hyperparameters are out of range (torch's checks). */
  protected abstract checkGroup(group: O, where: string): void;
  /** The state entries this optimizer keeps. */
  protected abstract stateKeys(): StateKeys;
  /** Updates one parameter in place with its group's hyperparameters. */
  protected abstract update(param: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState): void;

  /** Adds a group ({ params, ...overrides }); the rest of its hyperparameters are the defaults. */
  addParamGroup(spec: ParamGroupSpec<O>): void {
    this.assertAlive();
    const where = `param group ${this.paramGroups.length}`;
    if (spec === null || typeof spec !== 'object' || spec instanceof Tensor || Array.isArray(spec))
      throw new ArgumentError(`${this.name}: ${where} must be an object { params, ...options }, got ${describe(spec)}`);
    const ps = (spec as { params?: unknown }).params;
    if (ps === undefined) throw new ArgumentError(`${this.name}: ${where} has no 'params'`);
    const params = ps instanceof Tensor ? [ps]
      : ps !== null && typeof ps === 'object' && typeof (ps as Iterable<unknown>)[Symbol.iterator] === 'function' ? [...(ps as Iterable<unknown>)]
      : null;
    if (params === null) throw new ArgumentError(`${this.name}: ${where}: params must be a Tensor or an iterable of Tensors, got ${describe(ps)}`);
    const seen = new Set<Tensor>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p);
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ArgumentError(`${this.name}: ${where}: params[${i}] must be a Tensor, got ${describe(p)}`);
      if (p.isDisposed) throw new DisposedError(`${this.name}: ${where}: params[${i}] was disposed`);
      if (p.dtype !== 'float32') throw new DTypeError(`${this.name}: ${where}: params[${i}] must be float32 to be optimized, got ${p.dtype}`);
      if (!p.isLeaf) throw new ValueError(`${this.name}: ${where}: params[${i}] is not a leaf tensor and cannot be optimized`);
      if (seen.has(p)) throw new ValueError(`${this.name}: ${where}: params[${i}] appears more than once (in this or another param group)`);
      seen.add(p);
    });
    const group = { ...this.defaults } as Record<string, unknown>;
    for (const [k, v] of Object.entries(spec)) {
      if (k === 'params') continue;
      group[k] = this.hyperValue(k, v, where);
    }
    for (const [k, v] of Object.entries(group)) if (Array.isArray(v)) group[k] = [...v];
    this.checkGroup(group as O, where);
    group.params = params as Tensor[];
    this.paramGroups.push(group as ParamGroup<O>);
  }

  /** A group option's value, checked to be a known hyperparameter of the default's type. */
  private hyperValue(key: string, v: unknown, where: string): Hyper {
    if (!(key in this.defaults))
      throw new ArgumentError(`${this.name}: ${where}: unknown option '${key}' (expected one of ${Object.keys(this.defaults).join(', ')})`);
    const d = this.defaults[key];
    const ok = Array.isArray(d) ? Array.isArray(v) && v.length === d.length && v.every((x) => typeof x === 'number') : typeof v === typeof d;
    if (!ok)
      throw new ArgumentError(`${this.name}: ${where}: option '${key}' must be ${Array.isArray(d) ? `an array of ${d.length} numbers` : `a ${typeof d}`}, got ${describe(v)}`);
    return Array.isArray(v) ? [...v] : (v as Hyper);
  }

  protected assertAlive(): void {
    if (this.disposed) throw new DisposedError(`${this.name}: the optimizer was disposed`);
  }

  /**
   * Updates every parameter that has a gradient (params whose grad is null are skipped), in
   * place, without recording autograd. With a closure (which recomputes the loss and its
   * gradients), calls it first and returns what it returns.
   */
  step<T = undefined>(closure?: () => T): T | undefined {
    this.assertAlive();
    const loss = closure ? closure() : undefined;
    // Everything is checked before the first parameter changes, so a bad group or gradient
    // leaves the model as it was.
    const work: [Tensor, Tensor, ParamGroup<O>][] = [];
    this.paramGroups.forEach((g, gi) => {
      this.checkGroup(g, `paramGroups[${gi}]`);
      g.params.forEach((p, i) => {
        const grad = p.grad;
        if (grad === null || grad === undefined) return;
        const what = `${this.name}: paramGroups[${gi}].params[${i}]`;
        if (p.isDisposed) throw new DisposedError(`${what} was disposed`);
        if (!(grad instanceof Tensor)) throw new ArgumentError(`${what}: grad must be a Tensor or null, got ${describe(grad)}`);
        if (grad.isDisposed) throw new DisposedError(`${what}: its grad was disposed`);
        if (grad.dtype !== 'float32') throw new DTypeError(`${what}: grad must be float32, got ${grad.dtype}`);
        if (!sameShape(grad.shape, p.shape)) throw new ShapeError(`${what}: grad has shape ${fmt(grad.shape)}, expected the param's shape ${fmt(p.shape)}`);
        if (grad.storage === p.storage) throw new ArgumentError(`${what}: grad shares the param's memory; the update needs a separate gradient`);
        work.push([p, grad, g]);
      });
    });
    noGrad(() => {
      for (const [p, grad, g] of work) {
        let st = this.state.get(p);
        if (!st) this.state.set(p, (st = {}));
        this.update(p, grad, g, st);
      }
    });
    return loss;
  }

  /** Clears every parameter's gradient: drops it (setToNone, the default) or fills it with zeros. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups)
      for (const p of g.params) {
        if (!p.grad) continue;
        if (setToNone) p.zeroGrad();
        else runKernel('fill', [], [p.grad], { value: 0 });
      }
  }

  /** A zero tensor shaped like p that outlives every scope (optimizer state). */
  protected newState(p: Tensor): Tensor {
    return keep(noGrad(() => zeros([...p.shape], { device: p.device })));
  }

  /** Runs a kernel with an empty placeholder view for each absent optional state tensor. */
  protected run(op: string, grad: Tensor, outputs: (Tensor | null)[], attrs: Record<string, number | boolean>): void {
    const empties: Tensor[] = [];
    const views = outputs.map((t) => t ?? (empties[empties.length] = Tensor.empty([0], 'float32', grad.device)));
    try {
      runKernel(op, [grad], views, attrs);
    } finally {
      empties.forEach((t) => t.dispose());
    }
  }

  /** State and hyperparameters in torch's layout. The state tensors are the optimizer's own
   *  (not copies), as in torch: do not dispose them. */
  stateDict(): OptimizerStateDict {
    this.assertAlive();
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const out: Record<string, number | boolean | number[]> = {};
      for (const k of Object.keys(this.defaults)) {
        const v = (g as Record<string, unknown>)[k] as Hyper;
        out[this.torchNames[k as keyof O]] = Array.isArray(v) ? [...v] : v;
      }
      if (g.initialLr !== undefined) out.initial_lr = g.initialLr;
      out.params = g.params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      });
      return out;
    });
    const state: Record<number, Record<string, Tensor | number>> = {};
    for (const [p, st] of this.state) {
      const i = index.get(p);
      if (i !== undefined && Object.keys(st).length) state[i] = { ...st };
    }
    return { state, paramGroups };
  }

  /**
   * Restores state and hyperparameters saved by stateDict() (of an optimizer of the same kind
   * over parameters of the same shapes, grouped the same way). Tensors are copied; missing
   * hyperparameters keep their current values; torch-only flags (foreach, ...) are ignored.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    this.assertAlive();
    const name = `${this.name}.loadStateDict`;
    if (sd === null || typeof sd !== 'object' || typeof sd.state !== 'object' || sd.state === null || !Array.isArray(sd.paramGroups))
      throw new ArgumentError(`${name}: expected { state, paramGroups } as stateDict() returns, got ${describe(sd)}`);
    if (sd.paramGroups.length !== this.paramGroups.length)
      throw new ValueError(`${name}: the state dict has ${sd.paramGroups.length} param groups, the optimizer has ${this.paramGroups.length}`);
    const byId = new Map<number, Tensor>();
    const reverse = new Map<string, string>(Object.entries(this.torchNames).map(([k, t]) => [t as string, k]));
    const newGroups = sd.paramGroups.map((saved, gi) => {
      const where = `paramGroups[${gi}]`;
      const g = this.paramGroups[gi];
      if (saved === null || typeof saved !== 'object' || !Array.isArray(saved.params))
        throw new ArgumentError(`${name}: ${where} must be an object with a params array of indices`);
      const ids = saved.params as unknown[];
      if (ids.length !== g.params.length)
        throw new ValueError(`${name}: ${where} holds ${ids.length} params, the optimizer's group holds ${g.params.length}`);
      ids.forEach((id, i) => {
        if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
          throw new ArgumentError(`${name}: ${where}.params[${i}] must be a non-negative integer index, got ${String(id)}`);
        if (byId.has(id)) throw new ValueError(`${name}: parameter index ${id} appears more than once`);
        byId.set(id, g.params[i]);
      });
      const hyper: Record<string, unknown> = {};
      for (const k of Object.keys(this.defaults)) {
        const v = (g as Record<string, unknown>)[k];
        hyper[k] = Array.isArray(v) ? [...v] : v;
      }
      let initialLr = g.initialLr;
      for (const [key, v] of Object.entries(saved)) {
        if (key === 'params' || TORCH_ONLY_GROUP_KEYS.has(key)) continue;
        if (key === 'initial_lr') {
          if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`${name}: ${where}.initial_lr must be a finite number, got ${describe(v)}`);
          initialLr = v;
          continue;
        }
        const k = reverse.get(key);
        if (k === undefined) throw new ArgumentError(`${name}: ${where} has an unknown hyperparameter '${key}' (expected ${[...reverse.keys()].join(', ')})`);
        hyper[k] = this.hyperValue(k, v, where);
      }
      this.checkGroup(hyper as O, where);
      return { hyper, initialLr };
    });
    // state: validate every entry, then copy
    const keys = this.stateKeys();
    const allowed = new Set([...keys.required, ...keys.optional]);
    const incoming: [Tensor, Record<string, Tensor | number>][] = [];
    for (const [idText, entry] of Object.entries(sd.state)) {
      const id = Number(idText);
      const p = byId.get(id);
      if (p === undefined) throw new IndexError(`${name}: state refers to parameter index ${idText}, which no param group lists`);
      if (entry === null || typeof entry !== 'object') throw new ArgumentError(`${name}: state[${idText}] must be an object, got ${describe(entry)}`);
      const st: Record<string, Tensor | number> = {};
      for (const [k, v] of Object.entries(entry)) {
        if (!allowed.has(k)) throw new ArgumentError(`${name}: state[${idText}] has an unknown entry '${k}' (${this.name} keeps ${[...allowed].join(', ')})`);
        if (v === null || v === undefined) continue;  // torch writes momentum_buffer: None
        if (k === 'step') {
          const n = v instanceof Tensor && v.size === 1 ? v.item() : v;
          if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
            throw new ValueError(`${name}: state[${idText}].step must be a non-negative integer, got ${v instanceof Tensor ? n : describe(v)}`);
          st[k] = n;
          continue;
        }
        if (!(v instanceof Tensor)) throw new ArgumentError(`${name}: state[${idText}].${k} must be a Tensor, got ${describe(v)}`);
        if (v.isDisposed) throw new DisposedError(`${name}: state[${idText}].${k} was disposed`);
        if (v.dtype !== 'float32') throw new DTypeError(`${name}: state[${idText}].${k} must be float32, got ${v.dtype}`);
        if (!sameShape(v.shape, p.shape))
          throw new ShapeError(`${name}: state[${idText}].${k} has shape ${fmt(v.shape)}, expected the param's shape ${fmt(p.shape)}`);
        st[k] = v;
      }
      if (Object.keys(st).length === 0) continue;
      const missing = keys.required.filter((k) => !(k in st));
      if (missing.length) throw new ArgumentError(`${name}: state[${idText}] lacks ${missing.join(', ')}`);
      incoming.push([p, st]);
    }
    const copies = noGrad(() => incoming.map(([p, st]) => {
      const c: ParamState = {};
      for (const [k, v] of Object.entries(st)) c[k] = v instanceof Tensor ? keep(v.clone()) : v;
      return [p, c] as const;
    }));
    this.clearState();
    for (const [p, st] of copies) this.state.set(p, st);
    newGroups.forEach(({ hyper, initialLr }, gi) => {
      const g = this.paramGroups[gi] as Record<string, unknown>;
      Object.assign(g, hyper);
      if (initialLr === undefined) delete g.initialLr;
      else g.initialLr = initialLr;
    });
  }

  private clearState(): void {
    for (const st of this.state.values()) for (const v of Object.values(st)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }

  /** Frees the state tensors; the optimizer cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.clearState();
    this.disposed = true;
  }
  get isDisposed(): boolean { return this.disposed; }
}

/** Throws ValueError unless v is a finite number >= lo (and < hiOpen when given). */
export function checkRange(opt: string, where: string, key: string, v: unknown, lo = 0, hiOpen?: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || (hiOpen !== undefined && v >= hiOpen)) {
    const range = hiOpen === undefined ? `>= ${lo}` : `in [${lo}, ${hiOpen})`;
    throw new ValueError(`${opt}: ${where}: invalid ${key} ${typeof v === 'number' ? v : describe(v)} (expected a finite number ${range})`);
  }
}
export function checkFlag(opt: string, where: string, key: string, v: unknown): void {
  if (typeof v !== 'boolean') throw new ArgumentError(`${opt}: ${where}: ${key} must be a boolean, got ${describe(v)}`);
}
