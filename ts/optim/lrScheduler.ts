// Learning-rate schedulers (torch.optim.lr_scheduler, PyTorch 1.13). Each step() sets every
// param group's lr. Like torch, the usual step() is recursive (it scales the group's current
// lr, so a scheduler composes with others and with manual lr changes), while step(epoch) and
// SequentialLR's hand-over use the closed form of the epoch. Construction performs the initial
// step (lastEpoch -1 -> 0) and records each group's initialLr.
import { ArgumentError, ValueError } from '../errors';
import { AnyOptimizer, Optimizer } from './optimizer';

export type SchedulerStateDict = Record<string, unknown>;

/** Python's % (the result takes the divisor's sign). */
const pyMod = (a: number, b: number) => ((a % b) + b) % b;

/** How many values of a sorted list are <= x (Python's bisect_right). */
function bisectRight(sorted: readonly number[], x: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function checkNumber(sched: string, what: string, v: unknown, ok: (x: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw new ValueError(`${sched}: ${what} must be ${expected}, got ${String(v)}`);
  return v;
}
const isInt = (x: number) => Number.isSafeInteger(x);

export abstract class LRScheduler {
  baseLrs: number[];
  lastEpoch: number;
  protected stepCount = 0;
  protected lastLr: number[] = [];
  /** Extra fields for stateDict, torch's name -> this object's property. */
  protected abstract readonly savedFields: Record<string, string>;

  protected constructor(protected readonly name: string, readonly optimizer: AnyOptimizer, lastEpoch = -1) {
    if (!(optimizer instanceof Optimizer)) throw new ArgumentError(`${name}: expected an Optimizer, got ${typeof optimizer}`);
    checkNumber(name, 'lastEpoch', lastEpoch, (x) => isInt(x) && x >= -1, 'an integer >= -1');
    optimizer.paramGroups.forEach((g, i) => {
      if (lastEpoch === -1) g.initialLr ??= g.lr;
      else if (g.initialLr === undefined)
        throw new ArgumentError(`${name}: paramGroups[${i}] has no initialLr, needed to resume at lastEpoch ${lastEpoch}`);
    });
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
    this.lastEpoch = lastEpoch;
  }

  /** The chainable (recursive) lr of each group for the current lastEpoch. */
  protected abstract getLr(): number[];
  /** The closed-form lr at lastEpoch (used by step(epoch)); schedulers without one use getLr. */
  protected closedFormLr(): number[] { return this.getLr(); }

  /** The step torch's base constructor makes: subclasses call it last in their constructor, and
   *  SequentialLR to restart its first scheduler. Not for general use. */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** Advances one epoch (or, deprecated in torch, jumps to `epoch` using the closed form). */
  step(epoch?: number): void {
    this.stepCount++;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch++;
      values = this.getLr();
    } else {
      checkNumber(this.name, 'epoch', epoch, (x) => isInt(x) && x >= 0, 'an integer >= 0');
      this.lastEpoch = epoch;
      values = this.closedFormLr();
    }
    this.optimizer.paramGroups.forEach((g, i) => { g.lr = values[i]; });
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lr of each group as the last step() set it. */
  getLastLr(): number[] { return [...this.lastLr]; }

  protected groupLrs(): number[] { return this.optimizer.paramGroups.map((g) => g.lr); }

  /** Everything but the optimizer, under torch's names. */
  stateDict(): SchedulerStateDict {
    const sd: SchedulerStateDict = { base_lrs: [...this.baseLrs], last_epoch: this.lastEpoch, _step_count: this.stepCount, _last_lr: [...this.lastLr] };
    for (const [key, prop] of Object.entries(this.savedFields)) {
      const v = (this as unknown as Record<string, unknown>)[prop];
      sd[key] = Array.isArray(v) ? [...v] : v;
    }
    return sd;
  }

  loadStateDict(sd: SchedulerStateDict): void {
    if (sd === null || typeof sd !== 'object') throw new ArgumentError(`${this.name}.loadStateDict: expected an object`);
    const fields: Record<string, string> = { base_lrs: 'baseLrs', last_epoch: 'lastEpoch', _step_count: 'stepCount', _last_lr: 'lastLr', ...this.savedFields };
    const updates: [string, unknown][] = [];
    for (const [key, v] of Object.entries(sd)) {
      const prop = fields[key];
      if (prop === undefined) {
        if (key === 'verbose' || key === '_get_lr_called_within_step' || key === 'lr_lambdas') continue;  // torch bookkeeping
        throw new ArgumentError(`${this.name}.loadStateDict: unknown entry '${key}' (expected ${Object.keys(fields).join(', ')})`);
      }
      const cur = (this as unknown as Record<string, unknown>)[prop];
      const ok = Array.isArray(cur) ? Array.isArray(v) && v.every((x) => typeof x === 'number') : typeof v === 'number' && !Number.isNaN(v);
      if (!ok) throw new ArgumentError(`${this.name}.loadStateDict: '${key}' must be ${Array.isArray(cur) ? 'an array of numbers' : 'a number'}`);
      updates.push([prop, Array.isArray(v) ? [...v] : v]);
    }
    for (const [prop, v] of updates) (this as unknown as Record<string, unknown>)[prop] = v;
  }
}

/** lr = initial lr · gamma^⌊epoch / stepSize⌋ */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;
  protected readonly savedFields = { step_size: 'stepSize', gamma: 'gamma' };
  constructor(optimizer: AnyOptimizer, opts: { stepSize: number; gamma?: number; lastEpoch?: number }) {
    super('StepLR', optimizer, opts?.lastEpoch);
    this.stepSize = checkNumber('StepLR', 'stepSize', opts?.stepSize, (x) => isInt(x) && x >= 1, 'an integer >= 1');
    this.gamma = checkNumber('StepLR', 'gamma', opts?.gamma ?? 0.1, () => true, 'a finite number');
    this.initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma);
  }
  protected closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/** lr = initial lr · gamma^(number of milestones <= epoch); a milestone may repeat. */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];
  readonly gamma: number;
  protected readonly savedFields = { milestones: 'milestones', gamma: 'gamma' };
  constructor(optimizer: AnyOptimizer, opts: { milestones: number[]; gamma?: number; lastEpoch?: number }) {
    super('MultiStepLR', optimizer, opts?.lastEpoch);
    if (!Array.isArray(opts?.milestones) || !opts?.milestones.every((m) => typeof m === 'number' && isInt(m)))
      throw new ValueError(`MultiStepLR: milestones must be an array of integers, got ${JSON.stringify(opts?.milestones)}`);
    this.milestones = [...opts?.milestones].sort((a, b) => a - b);
    this.gamma = checkNumber('MultiStepLR', 'gamma', opts?.gamma ?? 0.1, () => true, 'a finite number');
    this.initialStep();
  }
  protected getLr(): number[] {
    const count = this.milestones.filter((m) => m === this.lastEpoch).length;
    if (count === 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma ** count);
  }
  protected closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** bisectRight(this.milestones, this.lastEpoch));
  }
}

/** lr = initial lr · gamma^epoch */
export class ExponentialLR extends LRScheduler {
  readonly gamma: number;
  protected readonly savedFields = { gamma: 'gamma' };
  constructor(optimizer: AnyOptimizer, opts: { gamma: number; lastEpoch?: number }) {
    super('ExponentialLR', optimizer, opts?.lastEpoch);
    this.gamma = checkNumber('ExponentialLR', 'gamma', opts?.gamma, () => true, 'a finite number');
    this.initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma);
  }
  protected closedFormLr(): number[] { return this.baseLrs.map((b) => b * this.gamma ** this.lastEpoch); }
}

/**
 * Cosine annealing from the initial lr to etaMin over tMax epochs (and back up over the next
 * tMax, as torch's recursion does): lr = etaMin + (initial − etaMin)·(1 + cos(π·epoch/tMax))/2.
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  protected readonly savedFields = { T_max: 'tMax', eta_min: 'etaMin' };
  constructor(optimizer: AnyOptimizer, opts: { tMax: number; etaMin?: number; lastEpoch?: number }) {
    super('CosineAnnealingLR', optimizer, opts?.lastEpoch);
    this.tMax = checkNumber('CosineAnnealingLR', 'tMax', opts?.tMax, (x) => x > 0, 'a number > 0');
    this.etaMin = checkNumber('CosineAnnealingLR', 'etaMin', opts?.etaMin ?? 0, () => true, 'a finite number');
    this.initialStep();
  }
  protected getLr(): number[] {
    const { lastEpoch: e, tMax: T, etaMin } = this;
    if (e === 0) return this.groupLrs();
    if (this.stepCount === 1 && e > 0)
      return this.baseLrs.map((b) => etaMin + (b - etaMin) * (1 + Math.cos(e * Math.PI / T)) / 2);
    if (pyMod(e - 1 - T, 2 * T) === 0)
      return this.groupLrs().map((lr, i) => lr + (this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / T)) / 2);
    return this.groupLrs().map((lr) =>
      (1 + Math.cos(Math.PI * e / T)) / (1 + Math.cos(Math.PI * (e - 1) / T)) * (lr - etaMin) + etaMin);
  }
  protected closedFormLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + (b - this.etaMin) * (1 + Math.cos(Math.PI * this.lastEpoch / this.tMax)) / 2);
  }
}

/**
 * Linear warm-up (or decay): the lr factor goes from startFactor to endFactor over totalIters
 * epochs, then stays: lr = initial lr · (start + (end − start)·min(epoch, totalIters)/totalIters).
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;
  protected readonly savedFields = { start_factor: 'startFactor', end_factor: 'endFactor', total_iters: 'totalIters' };
  constructor(optimizer: AnyOptimizer, opts: { startFactor?: number; endFactor?: number; totalIters?: number; lastEpoch?: number } = {}) {
    super('LinearLR', optimizer, opts?.lastEpoch);
    // torch 1.13 accepts startFactor 0, whose recursion then divides by zero: it is refused here
    this.startFactor = checkNumber('LinearLR', 'startFactor', opts?.startFactor ?? 1 / 3, (x) => x > 0 && x <= 1, 'in (0, 1]');
    this.endFactor = checkNumber('LinearLR', 'endFactor', opts?.endFactor ?? 1, (x) => x >= 0 && x <= 1, 'in [0, 1]');
    this.totalIters = checkNumber('LinearLR', 'totalIters', opts?.totalIters ?? 5, (x) => isInt(x) && x >= 1, 'an integer >= 1');
    this.initialStep();
  }
  protected getLr(): number[] {
    const { lastEpoch: e, startFactor: s, endFactor: f, totalIters: T } = this;
    if (e === 0) return this.groupLrs().map((lr) => lr * s);
    if (e > T) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * (1 + (f - s) / (T * s + (e - 1) * (f - s))));
  }
  protected closedFormLr(): number[] {
    const { lastEpoch: e, startFactor: s, endFactor: f, totalIters: T } = this;
    return this.baseLrs.map((b) => b * (s + (f - s) * Math.min(T, e) / T));
  }
}

/** lr = initial lr · lrLambda(epoch); one function for all groups or one per group. */
export class LambdaLR extends LRScheduler {
  readonly lrLambdas: ((epoch: number) => number)[];
  protected readonly savedFields = {};
  constructor(optimizer: AnyOptimizer, opts: { lrLambda: ((epoch: number) => number) | ((epoch: number) => number)[]; lastEpoch?: number }) {
    super('LambdaLR', optimizer, opts?.lastEpoch);
    const l = opts?.lrLambda;
    const n = optimizer.paramGroups.length;
    if (Array.isArray(l)) {
      if (l.length !== n) throw new ValueError(`LambdaLR: expected ${n} lrLambdas (one per param group), got ${l.length}`);
      this.lrLambdas = [...l];
    } else this.lrLambdas = Array.from({ length: n }, () => l);
    if (!this.lrLambdas.every((f) => typeof f === 'function')) throw new ArgumentError('LambdaLR: lrLambda must be a function or an array of functions');
    this.initialStep();
  }
  protected getLr(): number[] {
    return this.baseLrs.map((b, i) => {
      const factor = this.lrLambdas[i](this.lastEpoch);
      if (typeof factor !== 'number') throw new ArgumentError(`LambdaLR: lrLambda(${this.lastEpoch}) returned ${typeof factor}, expected a number`);
      return b * factor;
    });
  }
}

/**
 * Runs schedulers one after another: schedulers[i] drives epochs [milestones[i-1], milestones[i]).
 * At each milestone the next scheduler restarts from its epoch 0 (closed form).
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: LRScheduler[];
  readonly milestones: number[];
  protected readonly savedFields = { _milestones: 'milestones' };
  constructor(optimizer: AnyOptimizer, opts: { schedulers: LRScheduler[]; milestones: number[]; lastEpoch?: number }) {
    super('SequentialLR', optimizer, opts?.lastEpoch);
    const { schedulers, milestones } = opts ?? {} as Partial<typeof opts>;
    if (!Array.isArray(schedulers) || schedulers.length === 0 || !schedulers.every((s) => s instanceof LRScheduler))
      throw new ArgumentError('SequentialLR: schedulers must be a non-empty array of schedulers');
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer)
        throw new ValueError(`SequentialLR: all schedulers must belong to the optimizer passed in; schedulers[${i}] does not`);
    });
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1 || !milestones.every((m) => typeof m === 'number' && isInt(m)))
      throw new ValueError(`SequentialLR: expected ${schedulers.length - 1} integer milestones (one fewer than the schedulers), got ${JSON.stringify(milestones)}`);
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.lastEpoch = (opts?.lastEpoch ?? -1) + 1;
    // torch: back to the initial lrs, undo the other schedulers' initial steps, and make the
    // first scheduler's initial step again
    optimizer.paramGroups.forEach((g) => { g.lr = g.initialLr!; });
    for (const s of this.schedulers) s.lastEpoch -= 1;
    this.schedulers[0].initialStep();
    this.lastLr = this.schedulers[0].getLastLr();
  }
  protected getLr(): number[] { return this.groupLrs(); }
  step(): void {
    this.lastEpoch++;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const s = this.schedulers[idx];
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) s.step(0);
    else s.step();
    this.lastLr = s.getLastLr();
  }
  stateDict(): SchedulerStateDict {
    return { _milestones: [...this.milestones], last_epoch: this.lastEpoch, _last_lr: [...this.lastLr], _schedulers: this.schedulers.map((s) => s.stateDict()) };
  }
  loadStateDict(sd: SchedulerStateDict): void {
    if (sd === null || typeof sd !== 'object') throw new ArgumentError('SequentialLR.loadStateDict: expected an object');
    const { _schedulers: inner, ...rest } = sd;
    if (!Array.isArray(inner) || inner.length !== this.schedulers.length)
      throw new ValueError(`SequentialLR.loadStateDict: _schedulers must hold ${this.schedulers.length} scheduler states`);
    super.loadStateDict(rest);
    inner.forEach((s, i) => this.schedulers[i].loadStateDict(s as SchedulerStateDict));
  }
}
