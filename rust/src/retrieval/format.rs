//! The on-disk BM25 index: little-endian, versioned, validated field by field on load so that a
//! truncated or corrupted file is an error naming what is wrong, never a panic.
//!
//! ```text
//! magic "IGBM25\0\0" | version u32 = 1 | k1 f64 | b f64 | n_docs u32 | n_terms u32 | n_postings u32
//! ids: offsets u32[n_docs+1], blob | contents: offsets u32[n_docs+1], blob | terms: offsets u32[n_terms+1], blob
//! postings_offsets u32[n_terms+1] | postings_docs u32[n_postings] | postings_tf u32[n_postings] | doc_len u32[n_docs]
//! ```
//! (each blob's length is the last entry of its offsets.)

use crate::retrieval::bm25::{Bm25Index, Params, StringTable};
use std::collections::HashMap;

const MAGIC: &[u8; 8] = b"IGBM25\0\0";
const VERSION: u32 = 1;

fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    out.reserve(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_table(out: &mut Vec<u8>, table: &StringTable) {
    put_u32s(out, &table.offsets);
    out.extend_from_slice(table.blob.as_bytes());
}

pub fn serialize(index: &Bm25Index) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&index.params.k1.to_le_bytes());
    out.extend_from_slice(&index.params.b.to_le_bytes());
    put_u32s(&mut out, &[index.len() as u32, index.terms.len() as u32, index.postings_docs.len() as u32]);
    put_table(&mut out, &index.ids);
    put_table(&mut out, &index.contents);
    put_table(&mut out, &index.terms);
    put_u32s(&mut out, &index.postings_offsets);
    put_u32s(&mut out, &index.postings_docs);
    put_u32s(&mut out, &index.postings_tf);
    put_u32s(&mut out, &index.doc_len);
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.bytes.len() - self.at < n {
            return Err(format!("truncated: {what} needs {n} bytes at offset {}, file has {}", self.at, self.bytes.len()));
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    fn f64(&mut self, what: &str) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    fn u32s(&mut self, n: usize, what: &str) -> Result<Vec<u32>, String> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| format!("{what}: length overflow"))?, what)?;
        Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect())
    }

    fn offsets(&mut self, n: usize, what: &str) -> Result<Vec<u32>, String> {
        let offsets = self.u32s(n + 1, what)?;
        if offsets[0] != 0 || offsets.windows(2).any(|w| w[1] < w[0]) {
            return Err(format!("corrupt: {what} are not increasing from 0"));
        }
        Ok(offsets)
    }

    fn table(&mut self, n: usize, what: &str) -> Result<StringTable, String> {
        let offsets = self.offsets(n, &format!("{what} offsets"))?;
        let blob = self.take(*offsets.last().unwrap() as usize, what)?;
        let blob = std::str::from_utf8(blob).map_err(|e| format!("corrupt: {what} are not UTF-8 at byte {}", e.valid_up_to()))?;
        for &o in &offsets {
            if !blob.is_char_boundary(o as usize) {
                return Err(format!("corrupt: {what} offset {o} splits a character"));
            }
        }
        Ok(StringTable { blob: blob.to_string(), offsets })
    }
}

pub fn deserialize(bytes: &[u8]) -> Result<Bm25Index, String> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(8, "magic")? != MAGIC {
        return Err("not an ig-search BM25 index (bad magic bytes)".to_string());
    }
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(format!("unsupported index version {version} (this build reads version {VERSION})"));
    }
    let params = Params { k1: r.f64("k1")?, b: r.f64("b")? };
    params.validate().map_err(|e| format!("corrupt: {e}"))?;
    let n_docs = r.u32("n_docs")? as usize;
    let n_terms = r.u32("n_terms")? as usize;
    let n_postings = r.u32("n_postings")? as usize;
    let ids = r.table(n_docs, "document ids")?;
    let contents = r.table(n_docs, "document contents")?;
    let terms = r.table(n_terms, "terms")?;
    let postings_offsets = r.offsets(n_terms, "postings offsets")?;
    if *postings_offsets.last().unwrap() as usize != n_postings {
        return Err(format!("corrupt: postings offsets end at {} but there are {n_postings} postings", postings_offsets.last().unwrap()));
    }
    let postings_docs = r.u32s(n_postings, "postings documents")?;
    if let Some(d) = postings_docs.iter().find(|&&d| d as usize >= n_docs) {
        return Err(format!("corrupt: a posting names document {d} of {n_docs}"));
    }
    let postings_tf = r.u32s(n_postings, "postings term frequencies")?;
    let doc_len = r.u32s(n_docs, "document lengths")?;
    if r.at != bytes.len() {
        return Err(format!("corrupt: {} trailing bytes after the index", bytes.len() - r.at));
    }
    let mut term_ids = HashMap::with_capacity(n_terms);
    for t in 0..n_terms {
        if term_ids.insert(terms.get(t).to_string(), t as u32).is_some() {
            return Err(format!("corrupt: term {:?} appears twice", terms.get(t)));
        }
    }
    Ok(Bm25Index::assemble(params, ids, contents, terms, term_ids, postings_offsets, postings_docs, postings_tf, doc_len))
}
