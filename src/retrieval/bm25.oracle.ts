/**
 * Plain TypeScript BM25 with the same formula, terms and tie-breaking as rust/src/retrieval/bm25.rs:
 * the oracle for the tests and the "plain TypeScript" contender in bench/advantage.ts.
 */
const TERM = /[\p{L}\p{N}]+/gu;

export function bm25TermsRef(text: string): string[] {
  // Lowercase per character, like Rust's char::to_lowercase (String.toLowerCase would apply
  // context-dependent final-sigma rules that per-character lowering does not).
  return (text.match(TERM) ?? []).map((t) => Array.from(t, (c) => c.toLowerCase()).join(''));
}

export class Bm25Oracle {
  private readonly postings = new Map<string, Map<number, number>>();
  private readonly lengths: number[] = [];
  private readonly avgdl: number;

  constructor(
    contents: readonly string[],
    private readonly k1 = 0.9,
    private readonly b = 0.4,
  ) {
    contents.forEach((text, doc) => {
      const terms = bm25TermsRef(text);
      this.lengths.push(terms.length);
      for (const t of terms) {
        let list = this.postings.get(t);
        if (!list) this.postings.set(t, (list = new Map()));
        list.set(doc, (list.get(doc) ?? 0) + 1);
      }
    });
    this.avgdl = this.lengths.reduce((a, b) => a + b, 0) / Math.max(1, this.lengths.length);
  }

  search(query: string, k: number): { doc: number; score: number }[] {
    const scores = new Map<number, number>();
    const n = this.lengths.length;
    for (const t of bm25TermsRef(query)) {
      const list = this.postings.get(t);
      if (!list) continue;
      const idf = Math.log(1 + (n - list.size + 0.5) / (list.size + 0.5));
      for (const [doc, tf] of list) {
        const norm = this.k1 * (1 - this.b + (this.b * this.lengths[doc]!) / this.avgdl);
        scores.set(doc, (scores.get(doc) ?? 0) + (idf * tf * (this.k1 + 1)) / (tf + norm));
      }
    }
    return [...scores]
      .map(([doc, score]) => ({ doc, score }))
      .sort((a, b) => b.score - a.score || a.doc - b.doc)
      .slice(0, k);
  }

  /** TF-IDF cosine of two texts under this corpus (smoothed idf ln((1+N)/(1+df)) + 1). */
  tfidfCosine(a: string, b: string): number {
    const n = this.lengths.length;
    const vector = (text: string) => {
      const v = new Map<string, number>();
      for (const t of bm25TermsRef(text)) v.set(t, (v.get(t) ?? 0) + 1);
      for (const [t, tf] of v) v.set(t, tf * (Math.log((1 + n) / (1 + (this.postings.get(t)?.size ?? 0))) + 1));
      return v;
    };
    const [va, vb] = [vector(a), vector(b)];
    let dot = 0;
    for (const [t, w] of va) dot += w * (vb.get(t) ?? 0);
    const norm = (v: Map<string, number>) => Math.sqrt([...v.values()].reduce((s, w) => s + w * w, 0));
    const d = norm(va) * norm(vb);
    return d === 0 ? 0 : dot / d;
  }
}
