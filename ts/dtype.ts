export type DType = 'float32' | 'int32' | 'bool';
export type TypedArray = Float32Array | Int32Array | Uint8Array;

export const dtypeCode: Record<DType, number> = { float32: 0, int32: 1, bool: 2 };
export const dtypeBytes: Record<DType, number> = { float32: 4, int32: 4, bool: 1 };
const arrays = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'int32' || x === 'bool';
}
export function typedArrayFor(dtype: DType, n: number): TypedArray {
  return new arrays[dtype](n);
}
export function dtypeOfArray(a: ArrayBufferView): DType | null {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array) return 'bool';
  return null;
}
/** Type promotion like torch: bool < int32 < float32. */
const rank = { bool: 0, int32: 1, float32: 2 };
export function promote(a: DType, b: DType): DType {
  return rank[a] >= rank[b] ? a : b;
}
