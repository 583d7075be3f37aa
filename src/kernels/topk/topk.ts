/**
 * Exact top-k on the GPU over a score matrix [B, N] held in shards: a scan pass keeps each chunk's
 * best k, merge passes fold 64 lists at a time until one is left per query; only B·k (score, id)
 * pairs are read back. Ties go to the lower id, so the result is the same however N is sharded.
 */
import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { defineKernel } from '../../gpu/kernel.js';
import commonSource from './topk.common.wgsl';
import mergeSource from './topk_merge.wgsl';
import scanSource from './topk_scan.wgsl';

export const topkScanKernel = defineKernel({ name: 'topk_scan', code: `${commonSource}\n${scanSource}`, entryPoint: 'main' });
export const topkMergeKernel = defineKernel({ name: 'topk_merge', code: `${commonSource}\n${mergeSource}`, entryPoint: 'main' });

/** The largest k one search selects. */
export const TOPK_MAX_K = 64;
/** Columns one scan invocation reads. */
export const TOPK_CHUNK = 256;
const MERGE_GROUP = 64;

export class TopK {
  private constructor(private readonly scan: ComputeKernel, private readonly merge: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<TopK> {
    const [scan, merge] = await Promise.all([ComputeKernel.compile(gpu, topkScanKernel), ComputeKernel.compile(gpu, topkMergeKernel)]);
    return new TopK(scan!, merge!);
  }

  /** Candidate lists a set of shards of these column counts needs per query. */
  static lists(shardColumns: readonly number[]): number {
    return shardColumns.reduce((n, c) => n + Math.ceil(c / TOPK_CHUNK), 0);
  }

  /** Scores [B, N] of one shard (ids idBase…) → lists listBase… of the candidate buffers [B, lists, k]. */
  encodeScan(batch: DispatchBatch, b: { scores: GPUBuffer; outScore: GPUBuffer; outId: GPUBuffer }, s: { B: number; N: number; k: number; lists: number; listBase: number; idBase: number }): void {
    const chunks = Math.ceil(s.N / TOPK_CHUNK);
    this.scan.dispatch(batch, b, { ...s, chunks, chunk: TOPK_CHUNK }, [Math.ceil(chunks / 64), s.B]);
  }

  /**
   * Merges [B, lists, k] down to [B, 1, k], ping-ponging between the two candidate buffer pairs;
   * returns the pair that holds the result.
   */
  encodeMerge(batch: DispatchBatch, a: { score: GPUBuffer; id: GPUBuffer }, b: { score: GPUBuffer; id: GPUBuffer }, s: { B: number; lists: number; k: number }): { score: GPUBuffer; id: GPUBuffer } {
    let from = a;
    let to = b;
    let lists = s.lists;
    while (lists > 1) {
      const outLists = Math.ceil(lists / MERGE_GROUP);
      this.merge.dispatch(batch, { inScore: from.score, inId: from.id, outScore: to.score, outId: to.id }, { B: s.B, lists, k: s.k, group: MERGE_GROUP, outLists }, [Math.ceil(outLists / 64), s.B]);
      [from, to] = [to, from];
      lists = outLists;
    }
    return from;
  }
}
