//! `ig_core`: the Rust half of ig-search, compiled to `wasm32-unknown-unknown`.
//!
//! There is no wasm-bindgen here (it cannot be installed offline); every export is a plain
//! `extern "C"` function over integers and pointers into linear memory, and the TypeScript glue in
//! `src/wasm/` is written by hand. The calling convention is in [`ffi`].

pub mod advantage;
pub mod ffi;
pub mod header;
pub mod retrieval;
pub mod selftest;
pub mod tokenizer;
pub mod unicode;
