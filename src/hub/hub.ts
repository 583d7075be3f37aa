/**
 * Models from the Hugging Face Hub by name: `fromPretrained('Qwen/Qwen2.5-0.5B-Instruct')` downloads
 * what ig-search loads (config.json, tokenizer files, safetensors — one file or the shards a
 * model.safetensors.index.json names) into the cache and returns the snapshot directory, which
 * every loader takes (`CausalLM.load`, `loadTokenizer`). A local directory or a URL passes through.
 *
 * The Hub's conventions: files at `{endpoint}/{repo}/resolve/{revision}/{file}`, a HEAD answer
 * carrying the commit (`X-Repo-Commit`) and the file's hash (`X-Linked-Etag` / `ETag`: sha256 for
 * LFS files, git's sha1 otherwise), `HF_ENDPOINT`, `HF_TOKEN` (or the token `hf auth login` saved),
 * `HF_HUB_OFFLINE`. Every file of one call comes from the same commit, even if the branch moves
 * meanwhile. A client is written here rather than taken from @huggingface/hub: its cache writer
 * (2.17) names snapshots by each file's last commit and writes no refs, which Python's
 * huggingface_hub cannot read back, and it reports no progress.
 */
import { IgSearchError } from '../errors.js';
import { currentPlatform } from '../platform/platform.js';
import { checkRevision, COMMIT, parseEtag, shardNames, shown } from './names.js';
import type { HubStore } from './store.js';
import { webCachedModels, webFromPretrained, webRemoveCachedModel } from './web.js';

export interface DownloadProgress {
  file: string;
  /** Bytes of this file so far, and its size (0 when unknown). */
  bytes: number;
  totalBytes: number;
  /** Files finished (downloaded or found in the cache) and files to fetch in all. */
  filesDone: number;
  filesTotal: number;
  /** True when the file came from the cache. */
  cached: boolean;
}

export interface PretrainedOptions {
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Access token for gated/private models (default: HF_TOKEN, else the token huggingface_hub saved). */
  token?: string;
  /** Hub address (default HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Use only the cache (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Cache directory (default: huggingface_hub's, from HF_HUB_CACHE / HF_HOME). */
  cacheDir?: string;
  onProgress?: (progress: DownloadProgress) => void;
  /** A request that gets no byte for this long fails (default 30 s), then is retried. */
  stallTimeoutMs?: number;
  /** Attempts after a timeout, network error or 5xx (default 3; 4xx are not retried). */
  retries?: number;
  fetch?: typeof fetch;
}

/**
 * Files beside the weights that ig-search reads when present. The tokenizer is one of them: a model
 * without `tokenizer.json` still loads and scores token ids; `loadTokenizer` says what is missing.
 * `1_Pooling/config.json` is a sentence-transformers encoder's pooling (SentenceEncoder reads it).
 */
const OPTIONAL_FILES = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'generation_config.json', '1_Pooling/config.json'];
const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

function env(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name] ?? (globalThis as { Deno?: { env: { get(n: string): string | undefined } } }).Deno?.env.get(name);
}

const truthy = (v: string | undefined) => v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());

/**
 * A local directory or URL as is; a Hub id (`org/name`) downloaded into the cache (or found there),
 * returned as its snapshot directory.
 */
export async function fromPretrained(ref: string, options: PretrainedOptions = {}): Promise<string> {
  if (/^(https?|file):\/\//.test(ref)) return ref.replace(/\/$/, '');
  const platform = currentPlatform();
  if (await platform.isDirectory?.(ref)) return ref.replace(/\/$/, '');
  if (!REPO_ID.test(ref)) throw new IgSearchError('INVALID_ARGUMENT', `model ${JSON.stringify(ref)} is not a directory, a URL or a Hub id like Qwen/Qwen2.5-0.5B-Instruct`);
  if (options.revision !== undefined) checkRevision(options.revision);
  const store = await platform.hubStore?.(options.cacheDir);
  if (!store) {
    // Browsers and Web Workers: Cache Storage (hub/web.ts).
    return webFromPretrained(
      ref,
      {
        endpoint: (options.endpoint ?? 'https://huggingface.co').replace(/\/$/, ''),
        revision: options.revision ?? 'main',
        token: options.token,
        offline: options.offline ?? false,
        files: { required: ['config.json'], optional: OPTIONAL_FILES },
        onProgress: options.onProgress,
        fetcher: options.fetch ?? globalThis.fetch.bind(globalThis),
      },
      (index) => shardNames(index, ref),
    );
  }
  return new HubDownload(ref, store, options).run();
}

interface FileHead {
  commit: string;
  /** The hash the file is checked against and stored under: git's blob sha1 or the LFS sha256. */
  etag: string;
  /** Bytes announced (X-Linked-Size, else Content-Length); undefined when the answer gave none. */
  size: number | undefined;
  /** Where the bytes are (the resolve URL, or the redirect target). */
  url: string;
}

class HubDownload {
  private readonly endpoint: string;
  private readonly revision: string;
  private readonly offline: boolean;
  private readonly retries: number;
  private readonly stallMs: number;
  private readonly fetcher: typeof fetch;
  private token: string | undefined;
  private commit: string | undefined;
  private done = 0;
  private total = 0;

  constructor(
    private readonly repo: string,
    private readonly store: HubStore,
    private readonly options: PretrainedOptions,
  ) {
    this.endpoint = (options.endpoint ?? env('HF_ENDPOINT') ?? 'https://huggingface.co').replace(/\/$/, '');
    this.revision = options.revision ?? 'main';
    this.offline = options.offline ?? truthy(env('HF_HUB_OFFLINE'));
    this.retries = options.retries ?? 3;
    this.stallMs = options.stallTimeoutMs ?? 30_000;
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.token = options.token ?? env('HF_TOKEN');
  }

  async run(): Promise<string> {
    if (this.offline) return this.fromCache('offline (HF_HUB_OFFLINE)');
    this.token ??= await currentPlatform().savedHubToken?.();
    let config: FileHead;
    try {
      config = await this.head('config.json');
    } catch (e) {
      // No network: a complete cached snapshot of this revision still serves (as huggingface_hub does).
      if (e instanceof IgSearchError && e.code === 'FETCH_FAILED') return this.fromCache(`the Hub did not answer (${e.message.split('\n')[0]})`);
      throw e;
    }
    this.commit = config.commit;
    // The ref first, as huggingface_hub writes it: whatever fails later, the cache stays readable.
    if (this.revision !== this.commit) await this.store.writeRef(this.repo, this.revision, this.commit);
    const index = await this.fetchOptional('model.safetensors.index.json');
    const weights = index === undefined ? ['model.safetensors'] : shardNames(index, this.repo);
    const required = ['config.json', ...weights];
    this.total = 1 + required.length + OPTIONAL_FILES.length; // the index (or its absence) is done already
    // Every file from the commit, config.json too: its HEAD above named the branch, which may move.
    for (const file of required) await this.fetchFile(file, file === 'config.json' && this.revision === this.commit ? config : undefined);
    for (const file of OPTIONAL_FILES) await this.fetchOptional(file);
    return this.store.snapshotDir(this.repo, this.commit);
  }

  /** The snapshot of `revision` from the cache alone, or OFFLINE naming what is missing. */
  private async fromCache(why: string): Promise<string> {
    const commit = COMMIT.test(this.revision) ? this.revision : await this.store.readRef(this.repo, this.revision);
    const missing = (files: string[]) => Promise.all(files.map(async (f) => ((await this.store.hasFile(this.repo, commit!, f)) ? undefined : f))).then((r) => r.filter((f): f is string => f !== undefined));
    if (commit) {
      const hasIndex = await this.store.hasFile(this.repo, commit, 'model.safetensors.index.json');
      const weights = hasIndex ? shardNames(new TextDecoder().decode(await this.store.readFile(this.repo, commit, 'model.safetensors.index.json')), this.repo) : ['model.safetensors'];
      const absent = await missing(['config.json', ...weights]);
      if (absent.length === 0) return this.store.snapshotDir(this.repo, commit);
      throw new IgSearchError('OFFLINE', `${this.repo}@${this.revision}: ${why}, and the cache (${this.store.root}) lacks ${absent.join(', ')}`, { hint: 'download it once with the network on' });
    }
    throw new IgSearchError('OFFLINE', `${this.repo}@${this.revision}: ${why}, and it is not in the cache (${this.store.root})`, { hint: 'download it once with the network on (unset HF_HUB_OFFLINE)' });
  }

  private url(file: string): string {
    const revision = this.commit ?? this.revision;
    return `${this.endpoint}/${this.repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  private progress(file: string, bytes: number, totalBytes: number, cached: boolean): void {
    this.options.onProgress?.({ file, bytes, totalBytes, filesDone: this.done, filesTotal: this.total, cached });
  }

  /** An optional file's text, or undefined when the Hub has no such file (remembered in the cache). */
  private async fetchOptional(file: string): Promise<string | undefined> {
    const known = await this.store.hasFile(this.repo, this.commit!, file);
    const absent = () => {
      this.done++;
      this.progress(file, 0, 0, true);
      return undefined;
    };
    if (known === false) return absent();
    if (known === undefined) {
      let head: FileHead;
      try {
        head = await this.head(file);
      } catch (e) {
        if (e instanceof IgSearchError && e.code === 'NOT_FOUND' && /EntryNotFound|no file/.test(e.message)) {
          await this.store.markMissing(this.repo, this.commit!, file);
          return absent();
        }
        throw e;
      }
      await this.fetchFile(file, head);
    } else {
      await this.fetchFile(file); // cached: counted and reported
    }
    return new TextDecoder().decode(await this.store.readFile(this.repo, this.commit!, file));
  }

  private async fetchFile(file: string, known?: FileHead): Promise<void> {
    if ((await this.store.hasFile(this.repo, this.commit!, file)) === true) {
      this.done++;
      this.progress(file, 0, 0, true);
      return;
    }
    const head = known ?? (await this.head(file));
    if (!(await this.store.hasBlob(this.repo, head.etag))) await this.download(file, head);
    else this.progress(file, head.size ?? 0, head.size ?? 0, true);
    await this.store.link(this.repo, this.commit!, file, head.etag);
    this.done++;
    this.progress(file, head.size ?? 0, head.size ?? 0, false);
  }

  /** The token goes to the Hub only, never to the storage host an LFS redirect names. */
  private headers(url: string): Record<string, string> {
    return this.token && new URL(url).origin === new URL(this.endpoint).origin ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** HEAD on the resolve URL, redirects to the Hub itself followed by hand (a cross-host one is where LFS bytes live). */
  private async head(file: string): Promise<FileHead> {
    let url = this.url(file);
    for (let hops = 0; hops < 5; hops++) {
      const response = await this.request(url, 'HEAD', file);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          next = new URL('invalid:');
        }
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new IgSearchError('BAD_RESPONSE', `${url}: redirects to ${shown(location)}, not an http(s) URL`);
        const linked = response.headers.get('x-linked-etag');
        if (next.origin !== new URL(this.endpoint).origin || linked) {
          return this.fileHead(file, response, next.href);
        }
        url = next.href;
        continue;
      }
      return this.fileHead(file, response, url);
    }
    // The Hub answered, so this is no network failure: the cache must not stand in for it (OFFLINE).
    throw new IgSearchError('BAD_RESPONSE', `${this.url(file)}: more than 5 redirects (a loop?)`);
  }

  private fileHead(file: string, response: Response, url: string): FileHead {
    const commit = response.headers.get('x-repo-commit') ?? this.commit;
    if (!commit || !COMMIT.test(commit)) throw new IgSearchError('BAD_RESPONSE', `${this.url(file)}: the answer names no commit (X-Repo-Commit ${shown(commit ?? '')}); is ${this.endpoint} a Hugging Face Hub?`);
    if (this.commit && commit !== this.commit) throw new IgSearchError('BAD_RESPONSE', `${this.repo}: ${file} is at commit ${commit}, the download started at ${this.commit}`);
    const etag = parseEtag(response.headers.get('x-linked-etag') ?? response.headers.get('etag'), this.url(file));
    return { commit, etag, size: byteCount(response.headers.get('x-linked-size') ?? response.headers.get('content-length'), this.url(file)), url };
  }

  /** One request with the stall timer, bounded retries and the Hub's errors as typed ones; the body is left unread. */
  private async request(url: string, method: 'HEAD' | 'GET', file: string, stall?: AbortController): Promise<Response> {
    let last = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** (attempt - 1))));
      const controller = stall ?? new AbortController();
      const timer = setTimeout(() => controller.abort(), this.stallMs);
      let response: Response;
      try {
        response = await this.fetcher(url, { method, headers: { ...this.headers(url), 'accept-encoding': 'identity' }, redirect: method === 'HEAD' ? 'manual' : 'follow', signal: controller.signal });
      } catch (e) {
        last = controller.signal.aborted ? `no answer within ${this.stallMs} ms` : (e as Error).message;
        if (stall) break;
        continue;
      } finally {
        clearTimeout(timer);
      }
      if (response.status >= 500) {
        last = `HTTP ${response.status}`;
        continue;
      }
      if (response.status === 401 || response.status === 403) {
        const code = response.headers.get('x-error-code') ?? '';
        const gated = code === 'GatedRepo' || response.status === 403;
        throw new IgSearchError(code === 'RepoNotFound' ? 'NOT_FOUND' : 'ACCESS_DENIED', `${this.repo}: ${code === 'RepoNotFound' ? 'no such model (or it is private)' : gated ? 'a gated model: access not granted to this token' : 'access refused'} (HTTP ${response.status} for ${file})`, {
          hint: this.token ? 'check the token (HF_TOKEN) and that it has been granted access on the model page' : 'set HF_TOKEN (or pass token) after accepting the model’s terms on its page',
        });
      }
      if (response.status === 404) {
        const code = response.headers.get('x-error-code') ?? '';
        const what = code === 'RevisionNotFound' ? `no revision ${this.revision}` : code === 'RepoNotFound' ? 'no such model' : `no file ${file} (EntryNotFound)`;
        throw new IgSearchError('NOT_FOUND', `${this.repo}: ${what} (HTTP 404 at ${url})`);
      }
      // The Hub answered: its refusal is not a network failure the cache may stand in for.
      if (response.status >= 400) throw new IgSearchError('BAD_RESPONSE', `${url}: HTTP ${response.status}`);
      return response;
    }
    throw new IgSearchError('FETCH_FAILED', `${url}: ${last} (after ${this.retries + 1} attempts)`, { hint: 'check the network and HF_ENDPOINT; HF_HUB_OFFLINE=1 uses the cache only' });
  }

  /** The bytes a GET may bring: what the HEAD announced, else the GET's Content-Length; both absent or disagreeing is BAD_RESPONSE. */
  private announcedSize(file: string, head: FileHead, response: Response): number {
    const got = byteCount(response.headers.get('content-length'), head.url);
    if (head.size !== undefined && got !== undefined && got !== head.size) throw new IgSearchError('BAD_RESPONSE', `${this.repo}: ${file} was announced as ${head.size} bytes, the download as ${got}`);
    const size = head.size ?? got;
    if (size === undefined) throw new IgSearchError('BAD_RESPONSE', `${this.repo}: ${file}: neither the HEAD nor the GET says how many bytes it is; refused (a body without a bound)`);
    return size;
  }

  /**
   * GET into a blob, streamed, hash checked, never past the size the Hub announced (a longer body is
   * BAD_RESPONSE, not retried); retried from the start on a stall, a network error or a bad hash.
   */
  private async download(file: string, head: FileHead): Promise<void> {
    let reason = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      let writer: import('./store.js').BlobWriter | undefined;
      const controller = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(), this.stallMs);
      };
      try {
        arm();
        const response = await this.request(head.url, 'GET', file, controller);
        const size = this.announcedSize(file, head, response);
        const free = await this.store.freeBytes?.(this.repo);
        if (free !== undefined && size > free) throw new IgSearchError('LIMIT_EXCEEDED', `${this.repo}: ${file} is ${size} bytes and the cache (${this.store.root}) has ${free} free`, { hint: 'free disk space or point HF_HUB_CACHE elsewhere' });
        writer = await this.store.blobWriter(this.repo, head.etag, size);
        const reader = response.body!.getReader();
        let bytes = 0;
        for (;;) {
          arm();
          const { done, value } = await reader.read();
          if (done) break;
          if (bytes + value.byteLength > size) {
            controller.abort();
            await reader.cancel().catch(() => {});
            throw new IgSearchError('BAD_RESPONSE', `${this.repo}: ${file}: the body runs past the ${size} bytes announced; refused`, { hint: 'is HF_ENDPOINT a Hugging Face Hub (or a faithful mirror)?' });
          }
          await writer.write(value);
          bytes += value.byteLength;
          this.progress(file, bytes, size, false);
        }
        clearTimeout(timer);
        if (await writer.commit()) return;
        reason = `${file}: the bytes do not hash to the Hub's ETag ${head.etag}`;
        if (attempt === this.retries) throw new IgSearchError('CHECKSUM_MISMATCH', `${this.repo}: ${reason} (after ${attempt + 1} downloads)`, { hint: 'a proxy or mirror altered the file; check HF_ENDPOINT' });
      } catch (e) {
        clearTimeout(timer);
        await writer?.abort();
        if (e instanceof IgSearchError && e.code !== 'FETCH_FAILED') throw e;
        reason = controller.signal.aborted ? `no data for ${this.stallMs} ms` : (e as Error).message.split('\n')[0]!;
      }
    }
    throw new IgSearchError('FETCH_FAILED', `${this.repo}: downloading ${file} failed: ${reason} (after ${this.retries + 1} attempts)`, { hint: 'check the network; what finished is kept in the cache' });
  }
}

/** A size header as a byte count; undefined when absent, BAD_RESPONSE when it is no count. */
function byteCount(header: string | null, where: string): number | undefined {
  if (header === null) return undefined;
  if (!/^\d{1,16}$/.test(header.trim())) throw new IgSearchError('BAD_RESPONSE', `${where}: the size ${shown(header)} is not a byte count`);
  return Number(header.trim());
}

/** The models in the cache (Node/Deno: the Hugging Face cache; browsers: Cache Storage). */
export async function cachedModels(options: { cacheDir?: string } = {}): Promise<import('./store.js').CachedModel[]> {
  const store = await currentPlatform().hubStore?.(options.cacheDir);
  return store ? store.list() : webCachedModels();
}

/** Deletes a model from the cache; false when it was not there. */
export async function removeCachedModel(repo: string, options: { cacheDir?: string } = {}): Promise<boolean> {
  if (!REPO_ID.test(repo)) throw new IgSearchError('INVALID_ARGUMENT', `${JSON.stringify(repo)} is not a Hub id like Qwen/Qwen2.5-0.5B-Instruct`);
  const store = await currentPlatform().hubStore?.(options.cacheDir);
  return store ? store.remove(repo) : webRemoveCachedModel(repo);
}
