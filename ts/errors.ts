// Typed errors. Every failure a user can cause maps to one of these; `code` is stable.
export class TensorforgeError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class ShapeError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_SHAPE'); } }
export class DTypeError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_DTYPE'); } }
export class DeviceError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_DEVICE'); } }
export class IndexError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_INDEX'); } }
export class ValueError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_VALUE'); } }
export class AllocationError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_ALLOCATION'); } }
export class DisposedError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_DISPOSED'); } }
export class ArgumentError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_ARGUMENT'); } }
/** A malformed file or byte buffer (safetensors, IDX, PNG): what was wrong and what was expected. */
export class FormatError extends TensorforgeError { constructor(m: string) { super(m, 'ERR_TF_FORMAT'); } }

const byCode: Record<string, new (m: string) => TensorforgeError> = {
  ERR_TF_SHAPE: ShapeError, ERR_TF_DTYPE: DTypeError, ERR_TF_DEVICE: DeviceError, ERR_TF_INDEX: IndexError,
  ERR_TF_VALUE: ValueError, ERR_TF_ALLOCATION: AllocationError, ERR_TF_DISPOSED: DisposedError,
  ERR_TF_ARGUMENT: ArgumentError, ERR_TF_FORMAT: FormatError,
};

/** Turns an error thrown by an addon (which carries `code`) into the matching typed error. */
export function fromNative(e: unknown): unknown {
  const code = (e as { code?: string } | null)?.code;
  const Cls = code ? byCode[code] : undefined;
  return Cls ? new Cls((e as Error).message) : e;
}
