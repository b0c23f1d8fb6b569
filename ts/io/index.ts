// Model files. tf.io.save / tf.io.load read and write the safetensors format (PyTorch interop).
export {
  save, load, loadWithMetadata, readHeader, serialize, deserialize, deserializeHeader, MAX_HEADER_BYTES,
} from './safetensors';
export type { SafetensorsHeader, TensorInfo, FileDType, SaveOptions } from './safetensors';
export { saveCheckpoint, loadCheckpoint } from './checkpoint';
export type { CheckpointParts, CheckpointInfo } from './checkpoint';
