// The MNIST multilayer perceptron of seed article 003, §4 "具体最佳实践：代码实例和详细解释说明":
// Net = flatten → Linear(784, 128) → ReLU → Linear(128, 10), CrossEntropyLoss, SGD with lr 0.01
// and momentum 0.9, batches of 64, printing the mean training loss of every epoch.
//
// Changes from the seed:
//   - Fashion-MNIST instead of MNIST: tensorforge ships a 10 000 / 2 000 image subset of it
//     (tf.data.loadFashionMnist), so the example runs offline. Same file format, same 28×28 grey
//     images, 10 classes; a harder task (clothes, not digits), so expect about 82% rather than ~97%.
//   - 5 epochs over the 10 000 training images instead of 10 over 60 000, to run in seconds.
//   - The seed never evaluates; this measures accuracy on the 2 000 held-out test images and
//     prints the per-class accuracy.
//   - The seed also lacks `import torchvision`; nothing here needs it.
//
// Run: npx tsc -p tsconfig.build.json && node dist/examples/mnistMlp.js
import * as tf from '../ts';

type Tensor = tf.Tensor;

class Net extends tf.nn.Module {
  fc1 = new tf.nn.Linear(784, 128);
  fc2 = new tf.nn.Linear(128, 10);
  forward(x: Tensor): Tensor {
    const flat = x.flatten(1);
    return this.fc2.forward(this.fc1.forward(flat).relu());
  }
}

export interface MlpResult {
  epochLosses: number[];
  testAccuracy: number;
  perClassAccuracy: number[];
  seconds: number;
  liveTensors: number;
}

/** Accuracy per class and overall on a dataset, in batches, without gradients. */
export function classAccuracy(model: tf.nn.Module, loader: tf.data.DataLoader, classes: number): { accuracy: number; perClass: number[] } {
  const correct = new Array<number>(classes).fill(0);
  const total = new Array<number>(classes).fill(0);
  model.eval();
  for (const batch of loader) {
    tf.scope(() => tf.noGrad(() => {
      const [inputs, labels] = batch;
      const predicted = model.forward(inputs).argmax(1).dataSync();
      const truth = labels.dataSync();
      for (let i = 0; i < truth.length; i++) {
        total[truth[i]]++;
        if (predicted[i] === truth[i]) correct[truth[i]]++;
      }
    }));
    batch.dispose();
  }
  model.train();
  const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
  return { accuracy: sum(correct) / sum(total), perClass: correct.map((c, i) => c / total[i]) };
}

export function main(opts: { log?: boolean; seed?: number; epochs?: number; trainLimit?: number } = {}): MlpResult {
  const { log: verbose = true, seed = 0, epochs = 5, trainLimit } = opts;
  const log = (s: string) => verbose && console.log(s);
  tf.manualSeed(seed);
  const start = performance.now();

  // pixels scaled to [0, 1], as torchvision's ToTensor does; no normalisation, like the seed
  const train = tf.data.loadFashionMnist({ split: 'train', limit: trainLimit });
  const test = tf.data.loadFashionMnist({ split: 'test' });
  const trainSet = new tf.data.TensorDataset(train.images, train.labels);
  const testSet = new tf.data.TensorDataset(test.images, test.labels);
  [train.images, train.labels, test.images, test.labels].forEach((t) => t.dispose());  // the datasets hold copies
  const trainLoader = new tf.data.DataLoader(trainSet, { batchSize: 64, shuffle: true, seed });
  const testLoader = new tf.data.DataLoader(testSet, { batchSize: 500 });

  const net = new Net();
  const criterion = new tf.nn.CrossEntropyLoss();
  const optimizer = new tf.optim.SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });

  const epochLosses: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    let runningLoss = 0;
    for (const batch of trainLoader) {
      tf.scope(() => {
        const [inputs, labels] = batch;
        optimizer.zeroGrad();
        const outputs = net.forward(inputs);
        const loss = criterion.forward(outputs, labels);
        loss.backward();
        optimizer.step();
        runningLoss += loss.item();
      });
      batch.dispose();
    }
    epochLosses.push(runningLoss / trainLoader.length);
    log(`Epoch: ${epoch + 1}, Loss: ${epochLosses[epoch].toFixed(3)}`);
  }

  const { accuracy, perClass } = classAccuracy(net, testLoader, 10);
  log(`test accuracy ${(100 * accuracy).toFixed(1)}% on ${testSet.length} held-out images`);
  log('per class: ' + tf.data.FASHION_MNIST_CLASSES.map((c, i) => `${c} ${(100 * perClass[i]).toFixed(0)}%`).join(', '));

  net.dispose();
  optimizer.dispose();
  const seconds = (performance.now() - start) / 1000;
  const liveTensors = tf.memory().numTensors;
  log(`${seconds.toFixed(2)} s, live tensors at the end: ${liveTensors}`);
  return { epochLosses, testAccuracy: accuracy, perClassAccuracy: perClass, seconds, liveTensors };
}

if (require.main === module) main();
