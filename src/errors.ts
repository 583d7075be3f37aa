/**
 * The one error type ig-search throws. `code` is stable and meant for `switch`; `message` says
 * what was wrong and where (file, field, shape); `hint` says what to do about it, when we know.
 */
export type IgSearchErrorCode =
  | 'NO_ADAPTER' // no WebGPU adapter in this runtime
  | 'NO_DEVICE' // adapter found, device request refused
  | 'DEVICE_LOST' // the GPU device went away mid-run
  | 'LIMIT_EXCEEDED' // a buffer, binding or dispatch exceeds the device limits
  | 'SHAPE_MISMATCH' // tensor shapes do not fit together
  | 'INVALID_ARGUMENT' // any other bad input
  | 'GPU_ERROR' // a validation or out-of-memory error reported by WebGPU
  | 'WASM_LOAD' // the .wasm asset could not be fetched or instantiated
  | 'WASM_PANIC' // the Rust core panicked (a bug in ig-search, the instance was reset)
  | 'OUT_OF_RANGE' // an index or id outside its valid range
  | 'NON_FINITE' // NaN or Infinity where a finite number is required
  | 'UNSUPPORTED_RUNTIME'
  | 'RETRIEVAL_FAILED' // a retriever (HTTP server) timed out, failed or answered garbage
  | 'FETCH_FAILED' // a model or data URL did not answer in time, failed, or returned an HTTP error
  | 'NOT_FOUND' // a Hub model, revision or file that does not exist
  | 'ACCESS_DENIED' // the Hub refused: a gated or private model without a (valid) token
  | 'OFFLINE' // offline (HF_HUB_OFFLINE or no network) and the model is not in the cache
  | 'CHECKSUM_MISMATCH' // a downloaded file's hash differs from the one the Hub announced
  | 'BAD_RESPONSE' // a server answered, but against its protocol: an ETag that is no hash, a redirect loop, a body past its size
  | 'CHECKPOINT_INCOMPLETE' // a checkpoint or run directory lacks what resuming needs, or would be overwritten
  | 'PREREGISTRATION_MISMATCH' // a test-split comparison whose configuration is not the registered one
  | 'TRAINING_DIVERGED'; // the weights or gradients stopped being finite

export class IgSearchError extends Error {
  override readonly name = 'IgSearchError';
  readonly code: IgSearchErrorCode;
  readonly hint: string | undefined;

  constructor(code: IgSearchErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(options.hint ? `${message}\n  hint: ${options.hint}` : message, { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }
}

export function isIgSearchError(e: unknown, code?: IgSearchErrorCode): e is IgSearchError {
  return e instanceof IgSearchError && (code === undefined || e.code === code);
}
