// Loss modules: the tf.F losses with their options fixed at construction (torch.nn.*Loss).
import { Tensor } from '../tensor';
import { Module } from './module';
import {
  crossEntropy, nllLoss, mseLoss, binaryCrossEntropyWithLogits,
  CrossEntropyOptions, NllLossOptions, BceWithLogitsOptions, Reduction,
} from '../ops/loss';

abstract class Loss<O> extends Module<[Tensor, Tensor], Tensor> {
  constructor(protected readonly opts: O) { super(); }
}
export class CrossEntropyLoss extends Loss<CrossEntropyOptions> {
  constructor(opts: CrossEntropyOptions = {}) { super(opts); }
  forward(input: Tensor, target: Tensor): Tensor { return crossEntropy(input, target, this.opts); }
}
export class NLLLoss extends Loss<NllLossOptions> {
  constructor(opts: NllLossOptions = {}) { super(opts); }
  forward(input: Tensor, target: Tensor): Tensor { return nllLoss(input, target, this.opts); }
}
export class MSELoss extends Loss<{ reduction?: Reduction }> {
  constructor(opts: { reduction?: Reduction } = {}) { super(opts); }
  forward(input: Tensor, target: Tensor): Tensor { return mseLoss(input, target, this.opts); }
}
export class BCEWithLogitsLoss extends Loss<BceWithLogitsOptions> {
  constructor(opts: BceWithLogitsOptions = {}) { super(opts); }
  forward(input: Tensor, target: Tensor): Tensor { return binaryCrossEntropyWithLogits(input, target, this.opts); }
}
