/**
 * IgSearchError across a worker boundary. comlink's own "throw" handler keeps only an error's
 * message, name and stack, so a caller would get a plain Error without `code` and `hint`; this
 * wraps that handler to carry them and rebuild an IgSearchError on the other side. Both sides
 * install it (the worker entry points and the client).
 */
import { transferHandlers, type TransferHandler } from 'comlink';
import { IgSearchError, type IgSearchErrorCode } from '../errors.js';

interface Carried {
  igSearch?: { code: IgSearchErrorCode; message: string; hint?: string };
}

export function installErrorTransfer(): void {
  const base = transferHandlers.get('throw') as TransferHandler<unknown, unknown> & { igSearch?: true };
  if (!base || base.igSearch) return;
  const handler: TransferHandler<unknown, unknown> & { igSearch: true } = {
    igSearch: true,
    canHandle: (value): value is unknown => base.canHandle(value),
    serialize(thrown) {
      const [serialized, transfer] = base.serialize(thrown);
      const value = (thrown as { value?: unknown }).value;
      if (value instanceof IgSearchError) {
        const message = value.hint ? value.message.slice(0, value.message.length - `\n  hint: ${value.hint}`.length) : value.message;
        (serialized as Carried).igSearch = { code: value.code, message, hint: value.hint };
      }
      return [serialized, transfer];
    },
    deserialize(serialized) {
      const carried = (serialized as Carried).igSearch;
      if (carried) throw new IgSearchError(carried.code, carried.message, { hint: carried.hint });
      return base.deserialize(serialized);
    },
  };
  transferHandlers.set('throw', handler);
}
