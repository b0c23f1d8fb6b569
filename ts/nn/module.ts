// nn.Module: the base of every layer. A module's parameters, buffers and submodules are found from
// its fields, in declaration order, the way PyTorch finds registered attributes:
//   - a Tensor made with `parameter()` (or this.param()) is a parameter;
//   - a Tensor registered with this.registerBuffer(name, t) is a buffer (running statistics);
//   - a Module field is a submodule, and an array of Modules is a list of submodules (`name.0`, ...).
// State-dict keys are PyTorch's: camelCase field names become snake_case (runningMean →
// running_mean, inProjWeight → in_proj_weight), joined by dots, so files map onto PyTorch models.
import { Tensor, Device } from '../tensor';
import { keep } from '../storage';
import { noGrad } from '../autograd';
import { ArgumentError, ShapeError } from '../errors';
import { resolveDevice } from '../backend';
import { toDevice } from '../ops/movement';
import { fmt, sameShape } from '../shape';

const parameters = new WeakSet<Tensor>();

/** Marks a float32 tensor as a trainable parameter (requiresGrad, kept beyond any tf.scope). */
export function parameter(t: Tensor): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError('parameter() expects a Tensor');
  if (!t.isLeaf) throw new ArgumentError('parameter() needs a leaf tensor; detach() it first');
  t.requiresGrad_(true);
  parameters.add(keep(t));
  return t;
}
export const isParameter = (t: unknown): t is Tensor => t instanceof Tensor && parameters.has(t);

/** camelCase → snake_case: the PyTorch spelling of a field name. */
export const stateName = (field: string) => field.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

export type StateDict = Record<string, Tensor>;
export interface LoadResult { missingKeys: string[]; unexpectedKeys: string[] }

export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  training = true;
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _params = new Map<string, Tensor | null>();

  abstract forward(...args: In): Out;
  /** Same as forward (PyTorch's `module(x)`). */
  call(...args: In): Out { return this.forward(...args); }

  /** Marks t as a parameter of this module (see parameter()). */
  protected param(t: Tensor): Tensor { return parameter(t); }
  /** A parameter under an explicit state-dict name, for names not held in a field (weight_ih_l0). */
  registerParameter(name: string, t: Tensor | null): void {
    checkName(name);
    this._params.set(name, t === null ? null : parameter(t));
  }
  /** A non-trainable tensor that belongs to the state (running statistics). */
  registerBuffer(name: string, t: Tensor | null): void {
    checkName(name);
    this._buffers.set(name, t === null ? null : keep(t));
  }

  // ---- discovery ---------------------------------------------------------------------------
  /** Direct children, in declaration order. */
  *namedChildren(): Generator<[string, Module<any, any>]> {
    for (const [key, v] of Object.entries(this)) {
      if (key.startsWith('_')) continue;
      if (v instanceof Module) yield [stateName(key), v];
      else if (Array.isArray(v) && v.length > 0 && v.every((m) => m instanceof Module))
        for (let i = 0; i < v.length; i++) yield [`${stateName(key)}.${i}`, v[i]];
    }
  }
  children(): Module<any, any>[] { return [...this.namedChildren()].map(([, m]) => m); }
  /** This module and every descendant, depth first, each once. */
  *namedModules(prefix = '', seen = new Set<Module<any, any>>()): Generator<[string, Module<any, any>]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [name, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${name}` : name, seen);
  }
  modules(): Module<any, any>[] { return [...this.namedModules()].map(([, m]) => m); }

  /** This module's own parameters (not its children's). */
  private *ownParameters(): Generator<[string, Tensor]> {
    for (const [name, t] of this._params) if (t) yield [name, t];
    for (const [key, v] of Object.entries(this))
      if (!key.startsWith('_') && isParameter(v) && ![...this._params.values()].includes(v)) yield [stateName(key), v];
  }
  private *ownBuffers(): Generator<[string, Tensor]> {
    for (const [name, t] of this._buffers) if (t) yield [name, t];
  }
  private *collect(own: (m: Module<any, any>) => Generator<[string, Tensor]>): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();  // a tensor shared by two modules is listed once, like torch
    for (const [prefix, m] of this.namedModules())
      for (const [name, t] of own(m)) {
        if (seen.has(t)) continue;
        seen.add(t);
        yield [prefix ? `${prefix}.${name}` : name, t];
      }
  }
  namedParameters(): [string, Tensor][] { return [...this.collect((m) => m.ownParameters())]; }
  parameters(): Tensor[] { return this.namedParameters().map(([, t]) => t); }
  namedBuffers(): [string, Tensor][] { return [...this.collect((m) => m.ownBuffers())]; }
  buffers(): Tensor[] { return this.namedBuffers().map(([, t]) => t); }

  /** Number of parameter elements (trainable ones only when asked). */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    return this.parameters().filter((p) => !opts.trainableOnly || p.requiresGrad).reduce((n, p) => n + p.size, 0);
  }

  // ---- modes and gradients -------------------------------------------------------------------
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this { return this.train(false); }
  zeroGrad(): void { for (const p of this.parameters()) p.zeroGrad(); }
  /** Calls fn on every submodule and then on this one (PyTorch's order), e.g. for initialisation. */
  apply(fn: (m: Module<any, any>) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }
  /**
   * Moves every parameter and buffer to `device`, in place (the module keeps its tensors' names;
   * the tensors themselves are replaced and the old ones freed). Gradients are dropped. As in
   * PyTorch, move a model before making its optimizer: an optimizer holds the tensors it was given.
   */
  to(device: Device): this {
    const d = resolveDevice(device);
    const moved = new Map<Tensor, Tensor>();
    const move = (t: Tensor, isParam: boolean): Tensor => {
      if (t.device === d) return t;
      let m = moved.get(t);
      if (!m) {
        m = keep(noGrad(() => toDevice(t, d)));
        if (isParam) {
          parameter(m);
          m.requiresGrad = t.requiresGrad;
        }
        moved.set(t, m);
      }
      return m;
    };
    for (const mod of this.modules()) {
      for (const [name, t] of mod._params) if (t) mod._params.set(name, move(t, true));
      for (const [name, t] of mod._buffers) if (t) mod._buffers.set(name, move(t, false));
      for (const [, v] of Object.entries(mod)) if (isParameter(v)) move(v, true);
    }
    // fields may hold registered tensors too (BatchNorm's runningMean is a field and a buffer)
    for (const mod of this.modules()) {
      const fields = mod as unknown as Record<string, unknown>;
      for (const [key, v] of Object.entries(mod)) if (v instanceof Tensor && moved.has(v)) fields[key] = moved.get(v);
    }
    for (const old of moved.keys()) {
      old.zeroGrad();
      old.dispose();
    }
    return this;
  }

  // ---- state ---------------------------------------------------------------------------------
  /** Parameters and buffers by PyTorch name. The tensors are the module's own (not copies):
   *  save or read them, but do not dispose them. */
  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, t] of m.ownParameters()) out[prefix ? `${prefix}.${name}` : name] = t;
      for (const [name, t] of m.ownBuffers()) out[prefix ? `${prefix}.${name}` : name] = t;
    }
    return out;
  }

  /** Copies values from sd into this module's parameters and buffers (cast to their dtype).
   *  strict (the default): every key must match both ways, else nothing is changed. */
  loadStateDict(sd: StateDict, opts: { strict?: boolean } = {}): LoadResult {
    if (sd === null || typeof sd !== 'object') throw new ArgumentError('loadStateDict expects an object of tensors');
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !(k in own));
    if (strict && (missingKeys.length || unexpectedKeys.length))
      throw new ArgumentError(`loadStateDict: ${[
        missingKeys.length ? `missing keys ${missingKeys.join(', ')}` : '',
        unexpectedKeys.length ? `unexpected keys ${unexpectedKeys.join(', ')}` : '',
      ].filter(Boolean).join('; ')}`);
    // Check everything before writing anything, so a bad file leaves the model as it was.
    for (const [k, t] of Object.entries(own)) {
      if (!(k in sd)) continue;
      const src = sd[k];
      if (!(src instanceof Tensor)) throw new ArgumentError(`loadStateDict: '${k}' must be a Tensor`);
      src.assertAlive();
      if (!sameShape(src.shape, t.shape))
        throw new ShapeError(`loadStateDict: '${k}' has shape ${fmt(src.shape)} in the state dict, the model expects ${fmt(t.shape)}`);
    }
    noGrad(() => { for (const [k, t] of Object.entries(own)) if (k in sd && sd[k] !== t) t.copy_(sd[k]); });
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every parameter and buffer (and their gradients). The module is unusable afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) {
      t.zeroGrad();
      t.dispose();
    }
  }
  [Symbol.dispose](): void { this.dispose(); }

  /** A one-line description of this layer's configuration (PyTorch's extra_repr). */
  protected extraRepr(): string { return ''; }
  toString(): string {
    const kids = [...this.namedChildren()];
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (!kids.length) return head + ')';
    const lines = kids.map(([n, m]) => `  (${n}): ${m.toString().split('\n').join('\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('.'))
    throw new ArgumentError(`a parameter or buffer name must be a non-empty string without '.', got ${JSON.stringify(name)}`);
}
