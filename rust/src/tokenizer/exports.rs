//! C-ABI surface of the tokenizer; handles into a slab, ids returned through a u32 slot.

use crate::ffi::{self, report, ErrorCode, Slab};
use crate::header::{self, TokenizerHeader, WordPieceHeader};
use crate::tokenizer::added::AddedToken;
use crate::tokenizer::bpe::Tokenizer;
use crate::tokenizer::pretokenize::Pattern;
use crate::tokenizer::wordpiece::{BertNormalizer, PreTokenizer, WordPieceTokenizer};
use std::cell::RefCell;

/// A live tokenizer of either model.
pub enum Loaded {
    Bpe(Tokenizer),
    WordPiece(WordPieceTokenizer),
}

impl Loaded {
    fn vocab_size(&self) -> usize {
        match self {
            Loaded::Bpe(t) => t.vocab_size(),
            Loaded::WordPiece(t) => t.vocab_size(),
        }
    }

    fn is_known(&self, id: u32) -> bool {
        match self {
            Loaded::Bpe(t) => t.is_known(id),
            Loaded::WordPiece(t) => t.is_known(id),
        }
    }

    fn encode_into(&self, text: &str, allow_special: bool, out: &mut Vec<u32>, spans: Option<&mut Vec<(u32, u32)>>) {
        match self {
            Loaded::Bpe(t) => t.encode_into(text, allow_special, out, spans),
            Loaded::WordPiece(t) => t.encode_into(text, allow_special, out, spans),
        }
    }

    fn decode_bytes(&self, ids: &[u32], skip_special: bool) -> Vec<u8> {
        match self {
            Loaded::Bpe(t) => t.decode_bytes(ids, skip_special),
            Loaded::WordPiece(t) => t.decode(ids, skip_special).into_bytes(),
        }
    }
}

thread_local! {
    static TOKENIZERS: RefCell<Slab<Loaded>> = RefCell::new(Slab::new());
    static IDS: RefCell<Vec<u32>> = RefCell::new(Vec::new());
}

#[no_mangle]
pub extern "C" fn ig_tok_ids_ptr() -> *const u32 {
    IDS.with(|ids| ids.borrow().as_ptr())
}

#[no_mangle]
pub extern "C" fn ig_tok_ids_len() -> usize {
    IDS.with(|ids| ids.borrow().len())
}

fn with_tokenizer<T>(handle: u32, f: impl FnOnce(&Loaded) -> T) -> Result<T, i32> {
    TOKENIZERS.with(|slab| match slab.borrow().get(handle) {
        Some(t) => Ok(f(t)),
        _ => Err(report(ErrorCode::InvalidArgument, &format!("tokenizer handle {handle} is not live (freed, or from another instance)"))),
    })
}

/// Pattern codes shared with `PATTERN_CODES` in src/tokenizer/config.ts.
fn parse_pattern(code: u32) -> Result<Option<Pattern>, i32> {
    match code {
        0 => Ok(None),
        1 => Ok(Some(Pattern::Gpt2)),
        2 => Ok(Some(Pattern::Cl100k { max_digits: 3 })),
        3 => Ok(Some(Pattern::Cl100k { max_digits: 1 })),
        4 => Ok(Some(Pattern::O200k)),
        p => Err(report(ErrorCode::InvalidArgument, &format!("unknown pre-tokenizer pattern code {p}"))),
    }
}

pub const FLAG_SPECIAL: u8 = 1;
pub const FLAG_LSTRIP: u8 = 2;
pub const FLAG_RSTRIP: u8 = 4;
pub const FLAG_SINGLE_WORD: u8 = 8;

/// Builds a tokenizer; returns its handle. `pattern`: 0 none, 1 GPT-2, 2 cl100k/Llama-3, 3 Qwen2, 4 o200k.
///
/// # Safety
/// `header` points at a whole [`TokenizerHeader`]; every pointer covers the count it gives (blobs by
/// their offsets' last entry), in `ig_alloc` buffers.
#[no_mangle]
pub unsafe extern "C" fn ig_tok_build(header: *const TokenizerHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_tok_build"),
    };
    let (n_vocab, n_merges, n_added) = (h.n_vocab as usize, h.n_merges as usize, h.n_added as usize);
    let pattern = match parse_pattern(h.pattern) {
        Ok(p) => p,
        Err(status) => return status,
    };
    let tokens = match vocabulary(h.vocab, h.vocab_len, h.vocab_offsets, h.vocab_ids, n_vocab) {
        Ok(t) => t,
        Err(status) => return status,
    };
    let size = tokens.len();
    let triples = ffi::slice(h.merges, n_merges * 3);
    let merges: Vec<(u32, u32, u32)> = triples.chunks_exact(3).map(|c| (c[0], c[1], c[2])).collect();
    if let Some((i, _)) = merges.iter().enumerate().find(|(_, m)| [m.0, m.1, m.2].iter().any(|&id| id as usize >= size)) {
        return report(ErrorCode::OutOfRange, &format!("model.merges[{i}] names a token id outside the vocabulary"));
    }
    let added = match added_tokens(h.added, h.added_len, h.added_offsets, h.added_ids, h.added_flags, n_added) {
        Ok(a) => a,
        Err(status) => return status,
    };
    match Tokenizer::new(tokens, &merges, pattern, h.add_prefix_space != 0, h.ignore_merges != 0, added) {
        Ok(t) => TOKENIZERS.with(|slab| slab.borrow_mut().insert(Loaded::Bpe(t))),
        Err(message) => report(ErrorCode::InvalidArgument, &message),
    }
}

/// The added tokens of a build header (blob, offsets, ids, flags).
///
/// # Safety
/// As for the build header: pointers cover `n` entries (the blob its offsets' last entry).
unsafe fn added_tokens(blob: *const u8, len: u32, offsets: *const u32, ids: *const u32, flags: *const u8, n: usize) -> Result<Vec<AddedToken>, i32> {
    let strings = ffi::split_strings(ffi::bytes(blob, len as usize), ffi::slice(offsets, n + 1), "added_tokens")?;
    let ids = ffi::slice(ids, n);
    let flags = ffi::slice(flags, n);
    Ok((0..n)
        .map(|i| AddedToken {
            content: strings[i].to_string(),
            id: ids[i],
            special: flags[i] & FLAG_SPECIAL != 0,
            lstrip: flags[i] & FLAG_LSTRIP != 0,
            rstrip: flags[i] & FLAG_RSTRIP != 0,
            single_word: flags[i] & FLAG_SINGLE_WORD != 0,
        })
        .collect())
}

/// Token strings by id from a vocabulary blob; refuses ids used twice or implausibly large.
///
/// # Safety
/// Pointers cover `n` entries (the blob its offsets' last entry).
unsafe fn vocabulary(blob: *const u8, len: u32, offsets: *const u32, ids: *const u32, n: usize) -> Result<Vec<Option<String>>, i32> {
    let strings = ffi::split_strings(ffi::bytes(blob, len as usize), ffi::slice(offsets, n + 1), "model.vocab")?;
    let ids = ffi::slice(ids, n);
    let size = ids.iter().map(|&i| i as usize + 1).max().unwrap_or(0);
    if size > 16_777_216 {
        return Err(report(ErrorCode::OutOfRange, &format!("model.vocab: id {} is implausibly large", size - 1)));
    }
    let mut tokens: Vec<Option<String>> = vec![None; size];
    for (s, &id) in strings.iter().zip(ids) {
        if tokens[id as usize].is_some() {
            return Err(report(ErrorCode::InvalidArgument, &format!("model.vocab: id {id} is used twice")));
        }
        tokens[id as usize] = Some(s.to_string());
    }
    Ok(tokens)
}

pub const NORMALIZER_BERT: u32 = 1;
pub const NORMALIZER_CLEAN_TEXT: u32 = 2;
pub const NORMALIZER_CHINESE_CHARS: u32 = 4;
pub const NORMALIZER_STRIP_ACCENTS: u32 = 8;
pub const NORMALIZER_LOWERCASE: u32 = 16;

/// Builds a WordPiece tokenizer (BERT family); returns its handle.
///
/// # Safety
/// `header` points at a whole [`WordPieceHeader`]; every pointer covers the count it gives, in
/// `ig_alloc` buffers.
#[no_mangle]
pub unsafe extern "C" fn ig_tok_build_wordpiece(header: *const WordPieceHeader) -> i32 {
    let h = match header::read(header) {
        Some(h) => h,
        None => return header::refused("ig_tok_build_wordpiece"),
    };
    let tokens = match vocabulary(h.vocab, h.vocab_len, h.vocab_offsets, h.vocab_ids, h.n_vocab as usize) {
        Ok(t) => t,
        Err(status) => return status,
    };
    let added = match added_tokens(h.added, h.added_len, h.added_offsets, h.added_ids, h.added_flags, h.n_added as usize) {
        Ok(a) => a,
        Err(status) => return status,
    };
    let text = |ptr: *const u8, len: u32, what: &str| match std::str::from_utf8(ffi::bytes(ptr, len as usize)) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => Err(report(ErrorCode::InvalidArgument, &format!("{what} is not valid UTF-8"))),
    };
    let (unk, prefix) = match (text(h.unk, h.unk_len, "model.unk_token"), text(h.prefix, h.prefix_len, "model.continuing_subword_prefix")) {
        (Ok(u), Ok(p)) => (u, p),
        (Err(status), _) | (_, Err(status)) => return status,
    };
    let bits = h.normalizer;
    let normalizer = (bits & NORMALIZER_BERT != 0).then(|| BertNormalizer {
        clean_text: bits & NORMALIZER_CLEAN_TEXT != 0,
        handle_chinese_chars: bits & NORMALIZER_CHINESE_CHARS != 0,
        strip_accents: bits & NORMALIZER_STRIP_ACCENTS != 0,
        lowercase: bits & NORMALIZER_LOWERCASE != 0,
    });
    let pre = match h.pre_tokenizer {
        0 => PreTokenizer::Bert,
        1 => PreTokenizer::WhitespaceSplit,
        2 => PreTokenizer::None,
        p => return report(ErrorCode::InvalidArgument, &format!("unknown WordPiece pre-tokenizer code {p}")),
    };
    match WordPieceTokenizer::new(tokens, &unk, &prefix, h.max_input_chars_per_word as usize, normalizer, pre, added, h.cleanup != 0) {
        Ok(t) => TOKENIZERS.with(|slab| slab.borrow_mut().insert(Loaded::WordPiece(t))),
        Err(message) => report(ErrorCode::InvalidArgument, &message),
    }
}

#[no_mangle]
pub extern "C" fn ig_tok_free(handle: u32) -> i32 {
    if TOKENIZERS.with(|slab| slab.borrow_mut().remove(handle)) {
        0
    } else {
        report(ErrorCode::InvalidArgument, &format!("tokenizer handle {handle} is not live"))
    }
}

/// Encodes `n` texts (blob + n+1 offsets) into the id slot; `counts[i]` ids belong to text i.
///
/// # Safety
/// Pointers cover the counts given, in `ig_alloc` buffers.
#[no_mangle]
pub unsafe extern "C" fn ig_tok_encode(handle: u32, texts: *const u8, texts_len: usize, offsets: *const u32, n: usize, allow_special: u32, counts: *mut u32) -> i32 {
    let texts = match ffi::split_strings(ffi::bytes(texts, texts_len), ffi::slice(offsets, n + 1), "texts") {
        Ok(t) => t,
        Err(status) => return status,
    };
    let counts = ffi::slice_mut(counts, n);
    let result = with_tokenizer(handle, |t| {
        IDS.with(|ids| {
            let mut ids = ids.borrow_mut();
            ids.clear();
            for (i, text) in texts.iter().enumerate() {
                let before = ids.len();
                t.encode_into(text, allow_special != 0, &mut ids, None);
                counts[i] = (ids.len() - before) as u32;
            }
            ids.len()
        })
    });
    match result {
        Ok(total) => total.min(i32::MAX as usize) as i32,
        Err(status) => status,
    }
}

/// Encodes one text; ids go to the id slot, and each token's `(start, end)` in UTF-16 code units
/// of `text` to the output slot as little-endian u32 pairs. Returns the number of tokens.
///
/// # Safety
/// `text` covers `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ig_tok_encode_offsets(handle: u32, text: *const u8, len: usize, allow_special: u32) -> i32 {
    let text = match std::str::from_utf8(ffi::bytes(text, len)) {
        Ok(t) => t,
        Err(e) => return report(ErrorCode::InvalidArgument, &format!("text: invalid UTF-8 at byte {}", e.valid_up_to())),
    };
    let result = with_tokenizer(handle, |t| {
        let mut spans = Vec::new();
        let count = IDS.with(|ids| {
            let mut ids = ids.borrow_mut();
            ids.clear();
            t.encode_into(text, allow_special != 0, &mut ids, Some(&mut spans));
            ids.len()
        });
        // UTF-16 position of every char boundary.
        let mut utf16 = vec![0u32; text.len() + 1];
        let mut units = 0u32;
        for (i, c) in text.char_indices() {
            utf16[i] = units;
            units += c.len_utf16() as u32;
        }
        utf16[text.len()] = units;
        let mut out = Vec::with_capacity(spans.len() * 8);
        for (a, b) in spans {
            out.extend_from_slice(&utf16[a as usize].to_le_bytes());
            out.extend_from_slice(&utf16[b as usize].to_le_bytes());
        }
        ffi::set_out(out);
        count
    });
    match result {
        Ok(count) => count.min(i32::MAX as usize) as i32,
        Err(status) => status,
    }
}

/// Decodes `n` ids into the output slot (UTF-8; invalid sequences become U+FFFD, as HF does).
///
/// # Safety
/// `ids` covers `n` u32.
#[no_mangle]
pub unsafe extern "C" fn ig_tok_decode(handle: u32, ids: *const u32, n: usize, skip_special: u32) -> i32 {
    let ids = ffi::slice(ids, n);
    let result = with_tokenizer(handle, |t| {
        if let Some(i) = ids.iter().position(|&id| !t.is_known(id)) {
            return Err(format!("ids[{i}] = {} is not a token of this tokenizer (vocabulary size {})", ids[i], t.vocab_size()));
        }
        Ok(t.decode_bytes(ids, skip_special != 0))
    });
    match result {
        Ok(Ok(bytes)) => {
            ffi::set_out(String::from_utf8_lossy(&bytes).into_owned().into_bytes());
            0
        }
        Ok(Err(message)) => report(ErrorCode::OutOfRange, &message),
        Err(status) => status,
    }
}

/// `[vocab_size, merges, added]` into `out`.
///
/// # Safety
/// `out` covers 3 u32.
#[no_mangle]
pub unsafe extern "C" fn ig_tok_info(handle: u32, out: *mut u32) -> i32 {
    match with_tokenizer(handle, |t| match t {
        Loaded::Bpe(t) => [t.vocab_size() as u32, t.merges.len() as u32, t.added.len() as u32],
        Loaded::WordPiece(t) => [t.vocab_size() as u32, 0, t.added.len() as u32],
    }) {
        Ok(info) => {
            ffi::slice_mut(out, 3).copy_from_slice(&info);
            0
        }
        Err(status) => status,
    }
}

/// Trains byte-level BPE merges on `n` texts. Learned tokens go to the output slot as
/// `(u32 len, bytes)*`, merges to the id slot as `(left, right)*` with ids 0..256 the bytes.
/// Returns the number of merges learned.
///
/// # Safety
/// Pointers cover the counts given, in `ig_alloc` buffers.
#[no_mangle]
pub unsafe extern "C" fn ig_tok_train(texts: *const u8, texts_len: usize, offsets: *const u32, n: usize, pattern: u32, merges_wanted: usize, min_frequency: u32) -> i32 {
    let pattern = match parse_pattern(pattern) {
        Ok(p) => p,
        Err(status) => return status,
    };
    let texts = match ffi::split_strings(ffi::bytes(texts, texts_len), ffi::slice(offsets, n + 1), "texts") {
        Ok(t) => t,
        Err(status) => return status,
    };
    let trained = crate::tokenizer::train::train(&texts, pattern, merges_wanted, min_frequency as u64);
    let mut out = Vec::new();
    for t in &trained.tokens {
        out.extend_from_slice(&(t.len() as u32).to_le_bytes());
        out.extend_from_slice(t);
    }
    ffi::set_out(out);
    IDS.with(|ids| {
        let mut ids = ids.borrow_mut();
        ids.clear();
        for &(a, b) in &trained.merges {
            ids.push(a);
            ids.push(b);
        }
    });
    trained.merges.len() as i32
}
