/**
 * Where downloaded Hub files live. In Node and Deno: the Hugging Face cache layout that Python's
 * huggingface_hub reads and writes —
 *
 *   $HF_HUB_CACHE (or $HF_HOME/hub, or ~/.cache/huggingface/hub)
 *     models--org--name/
 *       blobs/<etag>                          the bytes, named by the Hub's ETag (sha256 for LFS files)
 *       refs/<revision>                       the commit a branch or tag pointed to
 *       snapshots/<commit>/<file> -> ../../blobs/<etag>
 *       .no_exist/<commit>/<file>             an optional file the Hub does not have
 *
 * so a model either side downloaded is reused by the other. Every path is checked to resolve inside
 * the cache before anything is written there. Writes go to `<blob>.incomplete` and are
 * renamed into place after their hash is checked: an interrupted download never leaves a bad file.
 */
export interface CachedModel {
  repo: string;
  /** Bytes of its blobs. */
  bytes: number;
  /** Commits with a snapshot. */
  snapshots: string[];
  /** Branches/tags and the commit each points to. */
  refs: Record<string, string>;
  path: string;
}

export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Checks the hash against `etag` (sha256 of the bytes, or git's blob sha1) and renames into place; false on a mismatch (the partial file is removed). */
  commit(): Promise<boolean>;
  abort(): Promise<void>;
}

export interface HubStore {
  readonly root: string;
  /** The directory the loaders read for `commit` of `repo`. */
  snapshotDir(repo: string, commit: string): string;
  /** The commit a branch or tag names in the cache; undefined when absent or not a commit hash. */
  readRef(repo: string, revision: string): Promise<string | undefined>;
  writeRef(repo: string, revision: string, commit: string): Promise<void>;
  /** Whether the snapshot has `file`, recorded it as absent (`false`), or knows nothing (`undefined`). */
  hasFile(repo: string, commit: string, file: string): Promise<boolean | undefined>;
  markMissing(repo: string, commit: string, file: string): Promise<void>;
  readFile(repo: string, commit: string, file: string): Promise<Uint8Array>;
  hasBlob(repo: string, etag: string): Promise<boolean>;
  /** A writer for the blob `etag` (a hex sha1 or sha256, else INVALID_ARGUMENT) of exactly `size` bytes. */
  blobWriter(repo: string, etag: string, size: number): Promise<BlobWriter>;
  /** Bytes free where the model's blobs go, when the platform can tell. */
  freeBytes?(repo: string): Promise<number | undefined>;
  /** Points `snapshots/<commit>/<file>` at the blob (a relative symlink; a copy where links are refused). */
  link(repo: string, commit: string, file: string, etag: string): Promise<void>;
  list(): Promise<CachedModel[]>;
  /** Deletes a model's folder; false when it was not cached. */
  remove(repo: string): Promise<boolean>;
}

/** `models--org--name`, the folder name huggingface_hub gives a model repository. */
export function repoFolder(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}
