// tf.setMatmulPrecision, as torch.set_float32_matmul_precision: how float32 matrix products
// (matmul, convolution, attention) may be computed on devices with tensor cores.
//   'highest'  true float32 arithmetic (the default)
//   'high'     TF32 tensor cores: inputs rounded to a 10-bit mantissa, float32 accumulation
//   'medium'   BF16 tensor cores: inputs rounded to an 8-bit mantissa, float32 accumulation
// The CPU kernels always compute in float32; the CUDA kernels read the `precision` attribute.
import { ArgumentError } from './errors';

export type MatmulPrecision = 'highest' | 'high' | 'medium';
const codes: Record<MatmulPrecision, number> = { highest: 0, high: 1, medium: 2 };
let current: MatmulPrecision = 'highest';

export function setMatmulPrecision(p: MatmulPrecision): void {
  if (typeof p !== 'string' || !(p in codes))
    throw new ArgumentError(`setMatmulPrecision expects 'highest', 'high' or 'medium', got ${JSON.stringify(p)}`);
  current = p;
}
export function getMatmulPrecision(): MatmulPrecision { return current; }
/** The `precision` attribute value the kernels take (see cuda/runtime.h). */
export function precisionCode(): number { return codes[current]; }
