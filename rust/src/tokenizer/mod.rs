//! Byte-level BPE tokenizers from Hugging Face `tokenizer.json` (GPT-2, Qwen2/Qwen2.5, Llama-3 /
//! cl100k families). The JSON is parsed on the JS side (the runtime's JSON.parse) and arrives here
//! as packed arrays; this module owns the hot path: added-token splitting, pre-tokenization, BPE
//! merges, and decoding.

pub mod added;
pub mod bpe;
pub mod bytes;
pub mod exports;
pub mod pretokenize;
pub mod train;
pub mod wordpiece;
