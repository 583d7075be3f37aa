/**
 * An object that lives inside the Wasm core (a BM25 index, a tokenizer), named by an integer
 * handle. Frees it explicitly or, as a safety net, when its JS owner is garbage-collected; refuses
 * use after free and after the core was reset by a panic (the handle then names nothing).
 */
import { IgSearchError } from '../errors.js';
import type { CoreExports, WasmCore } from './core.js';

type Release = (x: CoreExports, handle: number) => number;

interface Held {
  core: WasmCore;
  handle: number;
  generation: number;
  release: Release;
}

const registry = new FinalizationRegistry<Held>(({ core, handle, generation, release }) => {
  if (core.generation === generation) core.call('free', (x) => release(x, handle));
});

export class CoreHandle {
  private handle: number;
  private readonly generation: number;

  /**
   * `what` names the object in errors ("BM25 index"); `recover` says what to do after a panic
   * reset ("rebuild or reload it").
   */
  constructor(
    private readonly core: WasmCore,
    handle: number,
    owner: object,
    private readonly release: Release,
    private readonly what: string,
    private readonly recover: string,
  ) {
    this.handle = handle;
    this.generation = core.generation;
    registry.register(owner, { core, handle, generation: this.generation, release }, this);
  }

  /** The handle, or a typed error if it was freed or lost in a reset. */
  live(): number {
    if (this.handle < 0) throw new IgSearchError('INVALID_ARGUMENT', `this ${this.what} was freed`);
    if (this.core.generation !== this.generation) {
      throw new IgSearchError('WASM_PANIC', `this ${this.what} was lost when the Wasm core reset after a panic; ${this.recover}`);
    }
    return this.handle;
  }

  free(): void {
    if (this.handle < 0) return;
    const h = this.live();
    registry.unregister(this);
    this.handle = -1;
    this.core.call('free', (x) => this.release(x, h));
  }
}
