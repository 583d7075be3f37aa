/**
 * Pre-registration of a comparison: the configuration that will be run on the test split — the
 * algorithms, seeds, budget, each algorithm's knobs and the warm start's fingerprint — is written
 * down (and committed) before any test-split result exists, with the SHA-256 of its canonical JSON.
 * `runCompare` reads the test split only under a registration whose hash matches the run it is
 * about to make, so a changed knob, seed, budget or warm start is refused, not silently compared.
 */
import { IgSearchError } from '../errors.js';
import { currentPlatform } from '../platform/platform.js';

/** A registration file: the configuration and the hash it was registered under. */
export interface Preregistration {
  config: Record<string, unknown>;
  sha256: string;
  /** Free text: why this budget and these knobs (which validation runs chose them). */
  rationale?: string;
}

/** JSON with object keys sorted at every depth (arrays keep their order): one text per value. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
  });
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-256 (hex) of a configuration's canonical JSON. */
export function configHash(config: unknown): Promise<string> {
  return sha256Hex(new TextEncoder().encode(canonicalJson(config)));
}

/** SHA-256 of the warm start's weights and of its sft.json (the world it was trained on): what "the same warm start" means. */
export async function policyFingerprint(dir: string): Promise<{ weights: string; sft: string }> {
  const base = dir.replace(/\/$/, '');
  const read = async (name: string) => {
    try {
      return await currentPlatform().readFile(`${base}/${name}`);
    } catch (e) {
      throw new IgSearchError('INVALID_ARGUMENT', `cannot read ${base}/${name} to fingerprint the warm start: ${(e as Error).message}`, { cause: e });
    }
  };
  return { weights: await sha256Hex(await read('model.safetensors')), sft: await sha256Hex(await read('sft.json')) };
}

/** A registration of `config`, ready to be written to a file and committed. */
export async function preregister(config: Record<string, unknown>, rationale?: string): Promise<Preregistration> {
  return { config: JSON.parse(canonicalJson(config)) as Record<string, unknown>, sha256: await configHash(config), ...(rationale ? { rationale } : {}) };
}

/** The top-level fields whose values differ between two configurations (compared as canonical JSON). */
export function differingFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]));
}

/**
 * Checks that `registration` is intact (its config still hashes to its sha256) and that `config`
 * — the run about to start — is the registered one. Throws `PREREGISTRATION_MISMATCH` naming the
 * fields that differ.
 */
export async function checkPreregistration(registration: Preregistration, config: Record<string, unknown>, source = 'the registration'): Promise<string> {
  if (typeof registration?.sha256 !== 'string' || typeof registration.config !== 'object' || registration.config === null) {
    throw new IgSearchError('INVALID_ARGUMENT', `${source}: a registration is {"config": {...}, "sha256": "<hex>"}`);
  }
  const registered = await configHash(registration.config);
  if (registered !== registration.sha256) {
    throw new IgSearchError('PREREGISTRATION_MISMATCH', `${source}: its config hashes to ${registered}, not the recorded ${registration.sha256}: it was edited after registration`, {
      hint: 'a registration is not changed after the fact; register a new configuration instead (and say so)',
    });
  }
  const actual = await configHash(config);
  if (actual !== registration.sha256) {
    const fields = differingFields(registration.config, JSON.parse(canonicalJson(config)) as Record<string, unknown>);
    throw new IgSearchError('PREREGISTRATION_MISMATCH', `${source}: this run's configuration (sha256 ${actual}) is not the registered one (${registration.sha256}); differing: ${fields.join(', ') || '(key order only?)'}`, {
      hint: 'run exactly the registered configuration, or register the new one before it reads the test split',
    });
  }
  return actual;
}
