// Reverse-mode autograd. Each primitive op is declared once as an OpDef: its forward (which
// computes the output's shape, dtype and values) and its backward, written with other ops so it
// runs on any device. This engine alone records the tape, accumulates fan-out, un-broadcasts
// gradients, honours noGrad, and frees the temporaries backward creates.
import type { Tensor } from './tensor';
import { scope, keep } from './storage';
import { ArgumentError, ShapeError } from './errors';
import { sameShape, fmt } from './shape';
import { onesLike } from './ops/creation';

export interface OpContext<A> { inputs: Tensor[]; output: Tensor; attrs: A }

export interface OpDef<A = void> {
  name: string;
  forward(inputs: Tensor[], attrs: A): Tensor;
  /** Gradients for each input (null where none), given the output gradient g. May return a
   *  gradient of a broadcast shape: the engine sums it back to the input's shape. */
  backward?(ctx: OpContext<A>, g: Tensor): (Tensor | null)[];
}

export class Node {
  released = false;
  /** Temporaries a composite op made for this node's inputs; freed when the node is released. */
  owned: Tensor[] = [];
  constructor(readonly op: OpDef<any>, public inputs: Tensor[], readonly attrs: unknown, public output: Tensor | null) {}
}

let gradEnabled = true;
export function isGradEnabled(): boolean { return gradEnabled; }

/** Runs fn without recording operations for autograd. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Applies a primitive op and records it on the tape when any input needs a gradient. */
export function apply<A>(op: OpDef<A>, inputs: Tensor[], attrs: A): Tensor {
  let anyGrad = false;
  for (let i = 0; i < inputs.length; i++) {
    inputs[i].assertAlive();
    anyGrad ||= inputs[i].requiresGrad;
  }
  const record = gradEnabled && op.backward !== undefined && anyGrad;
  const out = record ? noGrad(() => op.forward(inputs, attrs)) : op.forward(inputs, attrs);
  // Like torch, integer and bool results (indices, casts, comparisons) end the graph.
  if (record && out.dtype === 'float32') {
    out.requiresGrad = true;
    out.gradFn = new Node(op, inputs, attrs, null);
    out.gradFn.output = out;  // a cycle the GC handles; some backward formulas reuse the output
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const inputs = top[0].gradFn?.inputs ?? [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(top[0]);
      stack.pop();
    }
  }
  return order.reverse();
}

/** Sums a gradient over the dims that broadcasting expanded, back to `shape`. */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new ShapeError(`gradient of shape ${fmt(g.shape)} cannot be reduced to ${fmt(shape)}`);
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  return g.sum(dims, true).reshape([...shape]);
}

export function backward(root: Tensor, gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
  root.assertAlive();
  if (!root.requiresGrad) throw new ArgumentError('backward(): the tensor does not require grad and has no grad_fn');
  if (!gradient && root.size !== 1)
    throw new ShapeError(`backward(): grad can be implicitly created only for scalar outputs, got shape ${fmt(root.shape)}`);
  if (gradient && !sameShape(gradient.shape, root.shape))
    throw new ShapeError(`backward(): gradient shape ${fmt(gradient.shape)} does not match the output's ${fmt(root.shape)}`);
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, gradient ? gradient.clone() : onesLike(root));
    const accumulate = (t: Tensor, g: Tensor) => {
      const prev = grads.get(t);
      if (prev) {
        grads.set(t, prev.add(g));
        prev.dispose();
        g.dispose();
      } else grads.set(t, g);
    };
    for (const t of topoOrder(root)) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (node?.released)
        throw new ArgumentError('backward(): trying to backward through the graph a second time; pass { retainGraph: true } the first time');
      if (!node) {  // a leaf: its gradient accumulates into .grad and outlives any scope
        // .grad gets a buffer of its own: optimizers and clipping may write it in place, and a
        // formula can hand one buffer to several inputs (add's g for both operands).
        const total = t.grad ? t.grad.add(g) : g.isContiguous && !g.storage.shared ? g : g.clone();
        t.grad?.dispose();
        if (total !== g) g.dispose();
        t.grad = keep(total);
        continue;
      }
      const inputGrads = scope(() => {
        const gs = node.op.backward!({ inputs: node.inputs, output: t, attrs: node.attrs as never }, g);
        // Each input gets a tensor of its own: formulas may pass g through or reuse one result.
        const used = new Set<Tensor>([g]);
        return node.inputs.map((x, i) => {
          const gi = gs[i];
          if (!gi || !x.requiresGrad) return null;
          let r = unbroadcast(gi, x.shape);
          if (used.has(r)) r = r.view_(r.shape, r.strides, r.offset);
          used.add(r);
          return r;
        });
      });
      g.dispose();
      node.inputs.forEach((x, i) => {
        const gi = inputGrads[i];
        if (gi) accumulate(x, keep(gi));
      });
      if (!opts.retainGraph) {
        node.released = true;
        node.owned.forEach((x) => x.dispose());
        node.owned = [];
        node.inputs = [];
        node.output = null;
      }
    }
  });
}

/** Frees temporaries made for an op's inputs now, or hands them to the op's graph node if the
 *  backward pass will still need them. */
export function releaseTemporaries(out: Tensor, temps: Tensor[]): void {
  if (out.gradFn && !out.gradFn.released) out.gradFn.owned.push(...temps);
  else temps.forEach((t) => t.dispose());
}
