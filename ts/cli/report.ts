// Progress output for `train`: a redrawn progress bar on a terminal, plain log lines otherwise
// (about ten per epoch), and nothing but the final JSON on stdout with --json (the log goes to
// stderr then).
import type { BatchProgress, EpochMetrics } from '../train';

export interface Output { write(s: string): unknown; isTTY?: boolean; columns?: number }

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

export class Reporter {
  private lastLine = -1;
  private barShown = false;
  constructor(private readonly out: Output, private readonly quiet = false) {}

  private get tty(): boolean { return !!this.out.isTTY; }

  log(line: string): void {
    if (this.quiet) return;
    this.clearBar();
    this.out.write(line + '\n');
  }

  progress(p: BatchProgress): void {
    if (this.quiet) return;
    const head = `epoch ${p.epoch + 1} ${String(p.batch).padStart(String(p.batches).length)}/${p.batches}`;
    const tail = `loss ${p.loss.toFixed(4)} · ${Math.round(p.samplesPerSecond)} samples/s · ETA ${duration(p.etaSeconds)}`;
    if (this.tty) {
      const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - head.length - tail.length - 6));
      const done = Math.round((width * p.batch) / p.batches);
      this.out.write(`\r${head} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${tail}\x1b[K`);
      this.barShown = true;
    } else {
      const tenth = Math.floor((10 * p.batch) / p.batches);
      if (tenth === this.lastLine && p.batch !== p.batches) return;
      this.lastLine = tenth;
      this.out.write(`${head} ${tail}\n`);
    }
  }

  epoch(m: EpochMetrics, epochs: number): void {
    this.lastLine = -1;
    const v = m.validation ? ` · validation loss ${m.validation.loss.toFixed(4)}, accuracy ${pct(m.validation.accuracy)}` : '';
    this.log(`epoch ${m.epoch + 1}/${epochs}: train loss ${m.trainLoss.toFixed(4)}, accuracy ${pct(m.trainAccuracy)}${v} · ${m.seconds.toFixed(1)} s (${Math.round(m.samplesPerSecond)} samples/s)`);
  }

  private clearBar(): void {
    if (this.barShown) this.out.write('\r\x1b[K');
    this.barShown = false;
  }
}
