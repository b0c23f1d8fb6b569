// The ready-made models the training CLI and the parity tests build. Their state-dict names are
// those of the same nn.Sequential in PyTorch, so weights move between the two.
import { Sequential, Flatten, Linear, ReLU, Conv2d, MaxPool2d } from '../nn/layers';

/** 784-128-10 by default: Flatten, Linear, ReLU, Linear (state names 1.*, 3.*). */
export function mlp(opts: { inFeatures?: number; hidden?: number; classes?: number } = {}): Sequential {
  const { inFeatures = 784, hidden = 128, classes = 10 } = opts;
  return new Sequential(new Flatten(), new Linear(inFeatures, hidden), new ReLU(), new Linear(hidden, classes));
}

/** (conv 3×3 pad 1 → ReLU → maxpool 2) × 2, then Linear → ReLU → Linear. Defaults: channels
 *  32 and 64, hidden 128, 10 classes, 28×28 single-channel images (Fashion-MNIST). */
export function cnn(opts: { inChannels?: number; channels?: [number, number]; hidden?: number; classes?: number; imageSize?: number } = {}): Sequential {
  const { inChannels = 1, channels = [32, 64], hidden = 128, classes = 10, imageSize = 28 } = opts;
  const side = Math.floor(Math.floor(imageSize / 2) / 2);
  return new Sequential(
    new Conv2d(inChannels, channels[0], 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
    new Conv2d(channels[0], channels[1], 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
    new Flatten(), new Linear(channels[1] * side * side, hidden), new ReLU(), new Linear(hidden, classes),
  );
}
