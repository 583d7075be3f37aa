import type { DispatchBatch, Gpu } from '../../gpu/device.js';
import { ComputeKernel } from '../../gpu/compute.js';
import { GRID_WGSL, grid } from '../../gpu/grid.js';
import { defineKernel } from '../../gpu/kernel.js';
import source from './add.wgsl';
import columnsSource from './columns.wgsl';

export const addKernel = defineKernel({ name: 'add', code: `${GRID_WGSL}\n${source}`, entryPoint: 'main' });
export const columnsKernel = defineKernel({ name: 'columns', code: columnsSource, entryPoint: 'main' });

export class Add {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<Add> {
    return new Add(await ComputeKernel.compile(gpu, addKernel));
  }

  /** out[0..n) += x[0..n). */
  encode(batch: DispatchBatch, b: { x: GPUBuffer; out: GPUBuffer }, n: number): void {
    this.kernel.dispatch(batch, b, { n }, grid(Math.ceil(n / 64)));
  }
}

export interface ColumnsShape {
  T: number;
  width: number;
  /** Row stride and first column of x. */
  ldx: number;
  xOff: number;
  /** Row stride and first column of out. */
  ldo: number;
  oOff: number;
  beta: number;
  scale: number;
}

export class Columns {
  private constructor(private readonly kernel: ComputeKernel) {}

  static async create(gpu: Gpu): Promise<Columns> {
    return new Columns(await ComputeKernel.compile(gpu, columnsKernel));
  }

  /** out[:, oOff : oOff+width] = beta · out[…] + scale · x[:, xOff : xOff+width]. */
  encode(batch: DispatchBatch, b: { x: GPUBuffer; out: GPUBuffer }, s: ColumnsShape): void {
    this.kernel.dispatch(batch, b, { ...s }, [Math.ceil(s.width / 64), s.T]);
  }
}
