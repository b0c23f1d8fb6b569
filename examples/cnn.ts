// The convolutional network of seed article 001, §4.2 "卷积神经网络代码实例": conv 3×3 (32
// filters, padding 1) → ReLU → 2×2 max pool → Linear → ReLU → Linear(128, 10), trained with
// CrossEntropyLoss and SGD (lr 0.01).
//
// Changes from the seed, which does not run as written:
//   - Its data were noise with impossible shapes: x = randn(32, 32, 3, 32) for a Conv2d expecting
//     3 input channels in dim 1, targets randn(32, 10) (not class indices), a test input with 32
//     channels, and `F` was never imported. Here the network trains on real images: 4 000
//     Fashion-MNIST training images (the embedded subset), tested on the 2 000 held-out ones.
//     With 1×28×28 images the first layer takes 1 channel and fc1 takes 32·14·14 inputs instead
//     of 32·16·16; everything else is the seed's.
//   - Momentum 0.9 is added to the seed's SGD(lr=0.01): without it, two short epochs leave the
//     network far from trained.
//   - The loop is tf.train.fit (async, one tf.scope per batch) rather than a hand-written one;
//     see mnistMlp.ts for the hand-written form.
//
// Run: npx tsc -p tsconfig.build.json && node dist/examples/cnn.js
import * as tf from '../ts';

type Tensor = tf.Tensor;

class CNN extends tf.nn.Module {
  conv1 = new tf.nn.Conv2d(1, 32, 3, { padding: 1 });
  pool = new tf.nn.MaxPool2d(2, { stride: 2 });
  fc1 = new tf.nn.Linear(32 * 14 * 14, 128);
  fc2 = new tf.nn.Linear(128, 10);
  forward(x: Tensor): Tensor {
    let h = this.pool.forward(tf.F.relu(this.conv1.forward(x)));
    h = h.view([-1, 32 * 14 * 14]);
    h = tf.F.relu(this.fc1.forward(h));
    return this.fc2.forward(h);
  }
}

export interface CnnResult {
  epochs: { trainLoss: number; trainAccuracy: number; testAccuracy: number; seconds: number }[];
  testAccuracy: number;
  /** predictions for the first few test images, as the seed predicts for one input */
  samples: { truth: string; predicted: string; confidence: number }[];
  seconds: number;
  liveTensors: number;
}

export async function main(opts: { log?: boolean; seed?: number; epochs?: number; trainLimit?: number } = {}): Promise<CnnResult> {
  const { log: verbose = true, seed = 0, epochs = 2, trainLimit = 4000 } = opts;
  const log = (s: string) => verbose && console.log(s);
  tf.manualSeed(seed);
  const start = performance.now();

  // The embedded subset's images are stored shuffled, so its first 4 000 hold every class about
  // equally (386 to 422 each). Pixels are normalised with Fashion-MNIST's mean and std.
  const train = tf.data.loadFashionMnist({ split: 'train', limit: trainLimit, normalize: true });
  const test = tf.data.loadFashionMnist({ split: 'test', normalize: true });
  const trainSet = new tf.data.TensorDataset(train.images, train.labels);
  const testSet = new tf.data.TensorDataset(test.images, test.labels);
  [train.images, train.labels, test.images, test.labels].forEach((t) => t.dispose());  // the datasets hold copies

  const model = new CNN();
  const optimizer = new tf.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const history = await tf.train.fit(model, {
    epochs,
    optimizer,
    numClasses: 10,
    train: new tf.data.DataLoader(trainSet, { batchSize: 32, shuffle: true, seed }),
    validation: new tf.data.DataLoader(testSet, { batchSize: 250 }),
    onEpoch: (m) => { log(`epoch ${m.epoch + 1}: train loss ${m.trainLoss.toFixed(3)}, train acc ${(100 * m.trainAccuracy).toFixed(1)}%, ` +
      `test acc ${(100 * m.validation!.accuracy).toFixed(1)}% (${m.seconds.toFixed(1)} s)`); },
  });
  const testAccuracy = history[history.length - 1].validation!.accuracy;

  // predict a few single images, like the seed's x_test
  const classes = tf.data.FASHION_MNIST_CLASSES;
  model.eval();
  const samples = tf.scope(() => tf.noGrad(() => {
    const [images, labels] = testSet.getBatch([0, 1, 2, 3, 4]);
    const probs = tf.F.softmax(model.forward(images), 1);
    const best = probs.argmax(1).dataSync();
    const conf = probs.max(1).dataSync();
    const lbl = labels.dataSync();
    return Array.from(best, (b, i) => ({ truth: classes[lbl[i]], predicted: classes[b], confidence: conf[i] }));
  }));
  for (const s of samples) log(`  test image: ${s.truth.padEnd(12)} predicted ${s.predicted.padEnd(12)} p = ${s.confidence.toFixed(2)}`);

  model.dispose();
  optimizer.dispose();
  const seconds = (performance.now() - start) / 1000;
  const liveTensors = tf.memory().numTensors;
  log(`test accuracy ${(100 * testAccuracy).toFixed(1)}%; ${seconds.toFixed(2)} s, live tensors at the end: ${liveTensors}`);
  return {
    epochs: history.map((m) => ({ trainLoss: m.trainLoss, trainAccuracy: m.trainAccuracy, testAccuracy: m.validation!.accuracy, seconds: m.seconds })),
    testAccuracy, samples, seconds, liveTensors,
  };
}

if (require.main === module) main().catch((e) => { console.error(e); process.exitCode = 1; });
