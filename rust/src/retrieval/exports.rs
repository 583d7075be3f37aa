//! C-ABI surface of the retrieval module. Indexes live in a slab inside the module and are named
//! by integer handles; JS frees them explicitly (and through a FinalizationRegistry).

use crate::ffi::{self, report, ErrorCode, Slab};
use crate::header::{self, SampleHeader, StepSearchHeader};
use crate::retrieval::bm25::{Bm25Index, Params, StringTable};
use crate::advantage::turns::stepsearch_rollout;
use crate::retrieval::tfidf::TfIdf;
use crate::retrieval::{format, sampler};
use std::cell::RefCell;

thread_local! {
    static INDEXES: RefCell<Slab<Bm25Index>> = RefCell::new(Slab::new());
}

fn insert(index: Bm25Index) -> i32 {
    INDEXES.with(|slab| slab.borrow_mut().insert(index))
}

fn with_index<T>(handle: u32, f: impl FnOnce(&Bm25Index) -> T) -> Result<T, i32> {
    INDEXES.with(|slab| match slab.borrow().get(handle) {
        Some(index) => Ok(f(index)),
        _ => Err(report(ErrorCode::InvalidArgument, &format!("BM25 index handle {handle} is not live (freed, or from another instance)"))),
    })
}

unsafe fn table(blob: *const u8, len: usize, offsets: *const u32, n: usize, what: &str) -> Result<StringTable, i32> {
    let strings = ffi::split_strings(ffi::bytes(blob, len), ffi::slice(offsets, n + 1), what)?;
    Ok(StringTable { blob: strings.concat(), offsets: ffi::slice(offsets, n + 1).to_vec() })
}

/// Builds an index over `n` documents; returns its handle.
///
/// # Safety
/// Blobs and offsets (n+1 each) must be live `ig_alloc` buffers.
#[no_mangle]
pub unsafe extern "C" fn ig_bm25_build(
    ids: *const u8,
    ids_len: usize,
    id_offsets: *const u32,
    contents: *const u8,
    contents_len: usize,
    content_offsets: *const u32,
    n: usize,
    k1: f64,
    b: f64,
) -> i32 {
    let params = Params { k1, b };
    if let Err(message) = params.validate() {
        return report(ErrorCode::InvalidArgument, &message);
    }
    let ids = match table(ids, ids_len, id_offsets, n, "ids") {
        Ok(t) => t,
        Err(status) => return status,
    };
    let contents = match table(contents, contents_len, content_offsets, n, "contents") {
        Ok(t) => t,
        Err(status) => return status,
    };
    insert(Bm25Index::build(ids, contents, params))
}

#[no_mangle]
pub extern "C" fn ig_bm25_free(handle: u32) -> i32 {
    if INDEXES.with(|slab| slab.borrow_mut().remove(handle)) {
        0
    } else {
        report(ErrorCode::InvalidArgument, &format!("BM25 index handle {handle} is not live"))
    }
}

/// `[n_docs, n_terms, n_postings, avgdl, k1, b]` into `out`.
///
/// # Safety
/// `out` covers 6 f64.
#[no_mangle]
pub unsafe extern "C" fn ig_bm25_stats(handle: u32, out: *mut f64) -> i32 {
    match with_index(handle, |ix| [ix.len() as f64, ix.terms.len() as f64, ix.postings_docs.len() as f64, ix.avgdl, ix.params.k1, ix.params.b]) {
        Ok(stats) => {
            ffi::slice_mut(out, 6).copy_from_slice(&stats);
            0
        }
        Err(status) => status,
    }
}

/// Top-`k` for each of `nq` queries: hits of query i at `[i*k, i*k + counts[i])`.
///
/// # Safety
/// `out_docs`/`out_scores` cover `nq*k` elements, `out_counts` covers `nq`.
#[no_mangle]
pub unsafe extern "C" fn ig_bm25_search(
    handle: u32,
    queries: *const u8,
    queries_len: usize,
    query_offsets: *const u32,
    nq: usize,
    k: usize,
    out_docs: *mut u32,
    out_scores: *mut f64,
    out_counts: *mut u32,
) -> i32 {
    let queries = match ffi::split_strings(ffi::bytes(queries, queries_len), ffi::slice(query_offsets, nq + 1), "queries") {
        Ok(q) => q,
        Err(status) => return status,
    };
    let result = with_index(handle, |ix| queries.iter().map(|q| ix.search(q, k)).collect::<Vec<_>>());
    match result {
        Ok(all) => {
            let docs = ffi::slice_mut(out_docs, nq * k);
            let scores = ffi::slice_mut(out_scores, nq * k);
            let counts = ffi::slice_mut(out_counts, nq);
            for (i, hits) in all.iter().enumerate() {
                counts[i] = hits.len() as u32;
                for (j, hit) in hits.iter().enumerate() {
                    docs[i * k + j] = hit.doc;
                    scores[i * k + j] = hit.score;
                }
            }
            0
        }
        Err(status) => status,
    }
}

/// Documents `docs[..n]` into the output slot as `(u32 id_len, id, u32 contents_len, contents)*`.
///
/// # Safety
/// `docs` covers `n` u32.
#[no_mangle]
pub unsafe extern "C" fn ig_bm25_documents(handle: u32, docs: *const u32, n: usize) -> i32 {
    let docs = ffi::slice(docs, n);
    let result = with_index(handle, |ix| {
        if let Some(&bad) = docs.iter().find(|&&d| d as usize >= ix.len()) {
            return Err(format!("document {bad} out of range (the index holds {})", ix.len()));
        }
        let mut out = Vec::new();
        for &d in docs {
            for s in [ix.ids.get(d as usize), ix.contents.get(d as usize)] {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        Ok(out)
    });
    match result {
        Ok(Ok(out)) => {
            ffi::set_out(out);
            0
        }
        Ok(Err(message)) => report(ErrorCode::OutOfRange, &message),
        Err(status) => status,
    }
}

#[no_mangle]
pub extern "C" fn ig_bm25_serialize(handle: u32) -> i32 {
    match with_index(handle, format::serialize) {
        Ok(bytes) => {
            ffi::set_out(bytes);
            0
        }
        Err(status) => status,
    }
}

/// Loads a serialised index; returns its handle.
///
/// # Safety
/// `(ptr, len)` must be a live `ig_alloc` buffer.
#[no_mangle]
pub unsafe extern "C" fn ig_bm25_load(ptr: *const u8, len: usize) -> i32 {
    match format::deserialize(ffi::bytes(ptr, len)) {
        Ok(index) => insert(index),
        Err(message) => report(ErrorCode::InvalidArgument, &format!("BM25 index: {message}")),
    }
}

/// Counterfactual documents: up to `count` distinct indices into `out`; returns how many.
///
/// # Safety
/// `header` points at a whole [`SampleHeader`]: blobs/offsets as in `ig_rewards`, `exclude` covers
/// `n_exclude` u32, `out` covers `count` u32.
#[no_mangle]
pub unsafe extern "C" fn ig_bm25_sample(header: *const SampleHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_bm25_sample"),
    };
    let golds = match ffi::split_strings(ffi::bytes(h.golds, h.golds_len as usize), ffi::slice(h.gold_offsets, h.n_golds as usize + 1), "gold answers") {
        Ok(g) => g,
        Err(status) => return status,
    };
    let exclude = ffi::slice(h.exclude, h.n_exclude as usize);
    let seed = (h.seed_hi as u64) << 32 | h.seed_lo as u64;
    let count = h.count as usize;
    match with_index(h.index, |ix| sampler::sample_random_documents(ix, count, seed, &golds, exclude)) {
        Ok(chosen) => {
            ffi::slice_mut(h.out, count)[..chosen.len()].copy_from_slice(&chosen);
            chosen.len() as i32
        }
        Err(status) => status,
    }
}

/// Terms of `text` as BM25 sees them, joined by U+0020, into the output slot (for tests and tools).
///
/// # Safety
/// `(ptr, len)` must be a live `ig_alloc` buffer.
#[no_mangle]
pub unsafe extern "C" fn ig_bm25_terms(ptr: *const u8, len: usize) -> i32 {
    match std::str::from_utf8(ffi::bytes(ptr, len)) {
        Ok(text) => {
            let mut out = String::new();
            crate::retrieval::bm25::for_each_term(text, |t| {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(t);
            });
            ffi::set_out(out.into_bytes());
            0
        }
        Err(e) => report(ErrorCode::InvalidUtf8, &format!("text: invalid UTF-8 at byte {}", e.valid_up_to())),
    }
}


/// StepSearch step rewards for `n` rollouts. Texts `0..n_texts` (blob + offsets) are documents;
/// rollout r's gold passages are `gold_ids[gold_offsets[r]..gold_offsets[r+1]]`, its search steps
/// `step_offsets[r]..step_offsets[r+1]`, and step s retrieved `doc_ids[doc_offsets[s]..doc_offsets[s+1]]`
/// (equal ids = the same document). Similarity is TF-IDF cosine under this index's statistics.
///
/// # Safety
/// `header` points at a whole [`StepSearchHeader`]: offsets arrays cover their count + 1 u32, `out`
/// covers one f64 per step.
#[no_mangle]
pub unsafe extern "C" fn ig_stepsearch_rewards(header: *const StepSearchHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_stepsearch_rewards"),
    };
    let (n, n_texts) = (h.n as usize, h.n_texts as usize);
    let texts = match ffi::split_strings(ffi::bytes(h.texts, h.texts_len as usize), ffi::slice(h.text_offsets, n_texts + 1), "texts") {
        Ok(t) => t,
        Err(status) => return status,
    };
    let gold_offsets = ffi::slice(h.gold_offsets, n + 1);
    let step_offsets = ffi::slice(h.step_offsets, n + 1);
    let n_steps = step_offsets[n] as usize;
    let doc_offsets = ffi::slice(h.doc_offsets, n_steps + 1);
    for (offsets, what) in [(gold_offsets, "gold passages"), (step_offsets, "search steps"), (doc_offsets, "step documents")] {
        if let Err(status) = ffi::check_offsets(offsets, offsets[offsets.len() - 1] as usize, what) {
            return status;
        }
    }
    let gold_ids = ffi::slice(h.gold_ids, gold_offsets[n] as usize);
    let doc_ids = ffi::slice(h.doc_ids, doc_offsets[n_steps] as usize);
    if let Some(&bad) = gold_ids.iter().chain(doc_ids).find(|&&t| t as usize >= n_texts) {
        return report(ErrorCode::OutOfRange, &format!("text id {bad} out of range ({n_texts} texts)"));
    }
    let result = with_index(h.index, |ix| {
        let vectors: Vec<TfIdf> = texts.iter().map(|t| TfIdf::new(ix, t)).collect();
        let mut similarity = |a: u32, b: u32| vectors[a as usize].cosine(&vectors[b as usize]);
        let out = ffi::slice_mut(h.out, n_steps);
        for r in 0..n {
            let golds = &gold_ids[gold_offsets[r] as usize..gold_offsets[r + 1] as usize];
            let (s0, s1) = (step_offsets[r] as usize, step_offsets[r + 1] as usize);
            let steps: Vec<&[u32]> = (s0..s1).map(|s| &doc_ids[doc_offsets[s] as usize..doc_offsets[s + 1] as usize]).collect();
            stepsearch_rollout(golds, &steps, &mut similarity, &mut out[s0..s1]);
        }
    });
    match result {
        Ok(()) => 0,
        Err(status) => status,
    }
}
