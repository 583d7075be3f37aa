/**
 * Reuses GPU buffers and accounts for every byte. Buffers are bucketed by usage and rounded-up
 * size (powers of two up to 64 KiB, then steps of 1/16 of the next power of two, so at most 12.5%
 * slack), released buffers wait in a free list for the next request of the same bucket.
 * `liveBytes`/`peakLiveBytes` count what callers hold; they are how tests prove that a kernel
 * never allocated, say, a T×V logits buffer.
 */
import { IgSearchError } from '../errors.js';

export interface PoolStats {
  /** Bytes held by callers right now (rounded bucket sizes). */
  liveBytes: number;
  /** Maximum of `liveBytes` since creation or the last `resetPeak()`. */
  peakLiveBytes: number;
  /** Bytes of released buffers kept for reuse. */
  cachedBytes: number;
  /** Buffers created on the device so far (a low number means reuse works). */
  created: number;
}

export function bucketSize(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const pow = 2 ** Math.ceil(Math.log2(bytes));
  if (pow <= 65536) return pow;
  const step = pow / 16; // pow/2 < bytes <= pow: eight steps of pow/16 cover the upper half
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  private live = 0;
  private peak = 0;
  private cached = 0;
  private created = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  /** A buffer of at least `bytes` bytes with exactly `usage`. Contents are undefined. */
  acquire(bytes: number, usage: number, label = 'ig-search'): GPUBuffer {
    if (!Number.isFinite(bytes) || bytes < 0) {
      throw new IgSearchError('INVALID_ARGUMENT', `buffer "${label}": size must be a non-negative number, got ${bytes}`);
    }
    const size = bucketSize(bytes);
    if (size > this.maxBufferSize) {
      throw new IgSearchError('LIMIT_EXCEEDED', `buffer "${label}": ${bytes} bytes exceeds the device's maxBufferSize ${this.maxBufferSize}`, {
        hint: 'use a smaller batch or sequence length',
      });
    }
    const key = `${usage}:${size}`;
    let buffer = this.free.get(key)?.pop();
    if (buffer) {
      this.cached -= size;
      buffer.label = label; // errors name the buffer by its current role
    } else {
      buffer = this.device.createBuffer({ size, usage, label });
      this.sizes.set(buffer, size);
      this.created++;
    }
    this.live += size;
    this.peak = Math.max(this.peak, this.live);
    return buffer;
  }

  /** Gives `buffer` back for reuse. Only call once the GPU work using it has been submitted. */
  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) throw new IgSearchError('INVALID_ARGUMENT', `buffer "${buffer.label}" does not belong to this pool`);
    this.live -= size;
    this.cached += size;
    const key = `${buffer.usage}:${size}`;
    const list = this.free.get(key);
    if (list) list.push(buffer);
    else this.free.set(key, [buffer]);
  }

  /** Destroys every cached (released) buffer. */
  trim(): void {
    for (const list of this.free.values()) for (const buffer of list) buffer.destroy();
    this.free.clear();
    this.cached = 0;
  }

  resetPeak(): void {
    this.peak = this.live;
  }

  stats(): PoolStats {
    return { liveBytes: this.live, peakLiveBytes: this.peak, cachedBytes: this.cached, created: this.created };
  }
}
