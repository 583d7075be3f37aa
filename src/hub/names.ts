/**
 * What a Hub answer and a caller may name, checked before any of it becomes a path or a URL: the
 * ETag a blob is stored under, the revision a ref is written as, the shards an index lists. A
 * hostile or broken mirror gets a typed error here, never a file outside the cache.
 */
import { IgSearchError } from '../errors.js';

/** An index naming more shards than this is refused (the largest published checkpoints have ~200). */
export const MAX_SHARDS = 2048;

/** A git blob sha1 or an LFS sha256, as the Hub names files; a commit hash. */
export const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
export const COMMIT = /^[0-9a-f]{40}$/;

/** At most `n` characters of an untrusted value, quoted, for a message. */
export function shown(value: string, n = 80): string {
  return JSON.stringify(value.length > n ? `${value.slice(0, n)}…` : value);
}

/**
 * The hash an ETag names: git's blob sha1 (40 hex digits) or the LFS sha256 (64), after the weak
 * prefix and the quotes; anything else is BAD_RESPONSE, since a file could not be checked against it.
 */
export function parseEtag(raw: string | null, where: string): string {
  const etag = (raw ?? '').trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1').toLowerCase();
  if (!raw) throw new IgSearchError('BAD_RESPONSE', `${where}: the answer has no ETag to check the file against`);
  if (!SHA.test(etag)) throw new IgSearchError('BAD_RESPONSE', `${where}: the ETag ${shown(etag)} is not a sha1 or sha256 the file could be checked against`, { hint: 'is HF_ENDPOINT a Hugging Face Hub (or a faithful mirror)?' });
  return etag;
}

/**
 * A branch, tag or commit as git's check-ref-format allows (so `refs/<revision>` stays inside the
 * model's folder): no `..`, no component starting with `.` or ending in `.lock`, no control
 * characters, space, `~ ^ : ? * [ \`, no `@{`, no empty component, not `@`, at most 200 characters.
 */
export function checkRevision(revision: string): string {
  const bad =
    revision.length === 0 ||
    revision.length > 200 ||
    revision === '@' ||
    revision.includes('..') ||
    revision.includes('@{') ||
    // eslint-disable-next-line no-control-regex
    /[\x00-\x20\x7f~^:?*[\\]/.test(revision) ||
    revision.endsWith('.') ||
    revision.split('/').some((part) => part === '' || part.startsWith('.') || part.endsWith('.lock'));
  if (bad) throw new IgSearchError('INVALID_ARGUMENT', `revision ${shown(revision)} is not a branch, tag or commit name`, { hint: 'a name like main, v1.0, refs/pr/1 or a 40-digit commit' });
  return revision;
}

/** The shard files a `model.safetensors.index.json` names, in order, checked to be plain file names and bounded in number. */
export function shardNames(text: string, repo: string): string[] {
  const where = `${repo}/model.safetensors.index.json`;
  let map: unknown;
  try {
    map = (JSON.parse(text) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new IgSearchError('INVALID_ARGUMENT', `${where}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof map !== 'object' || map === null) throw new IgSearchError('INVALID_ARGUMENT', `${where}: no weight_map object`);
  const names = new Set<unknown>();
  for (const n of Object.values(map as Record<string, unknown>)) {
    if (typeof n !== 'string' || !/^[\w.-]+\.safetensors$/.test(n) || n.startsWith('.')) throw new IgSearchError('INVALID_ARGUMENT', `${where}: weight_map names ${typeof n === 'string' ? shown(n) : JSON.stringify(n)}, not a .safetensors file beside it`);
    names.add(n);
    if (names.size > MAX_SHARDS) throw new IgSearchError('LIMIT_EXCEEDED', `${where}: weight_map names more than ${MAX_SHARDS} shards (${new Set(Object.values(map as Record<string, unknown>)).size}); refused`, { hint: 'a checkpoint in that many files is not one ig-search can load' });
  }
  return ([...names] as string[]).sort();
}
