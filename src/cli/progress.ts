/**
 * Terminal progress: one bar per long job with elapsed time and ETA, redrawn in place on a TTY and
 * printed as plain lines (at most every few seconds) when stderr is a file or pipe.
 */
const clock = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

export class ProgressBar {
  private readonly started = performance.now();
  private lastLine = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly total: number, private readonly width = 28) {}

  /** `done` units of `total`; `label` before the bar, `detail` after it. */
  update(done: number, label: string, detail = ''): void {
    const elapsed = performance.now() - this.started;
    const fraction = this.total ? Math.min(1, done / this.total) : 1;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : NaN;
    const filled = Math.round(fraction * this.width);
    const line = `${label} [${'█'.repeat(filled)}${'░'.repeat(this.width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${clock(elapsed)} elapsed, ETA ${Number.isFinite(eta) ? clock(eta) : '–:––'}${detail ? `  ${detail}` : ''}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else if (performance.now() - this.lastLine > 5000 || done >= this.total) {
      process.stderr.write(`${line}\n`);
      this.lastLine = performance.now();
    }
  }

  /** Prints a message above the bar. */
  log(message: string): void {
    process.stderr.write(this.tty ? `\r\x1b[2K${message}\n` : `${message}\n`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
