// Data loading: IDX files, Fashion-MNIST, the SpamAssassin corpus, datasets and the DataLoader.
export * from './idx';
export * from './fashionMnist';
export * from './dataloader';
export * from './text';
export { seededRandom, permutation } from './random';
