//! Calling convention between JavaScript and this module.
//!
//! * Memory: JS asks for a buffer with [`ig_alloc`], writes into it, passes `(ptr, len)` to an
//!   export and releases it with [`ig_free`]. Exports never keep a pointer they were given.
//! * Results of variable length (strings, arrays) are left in one module-wide output slot; JS
//!   copies them out with [`ig_out_ptr`] / [`ig_out_len`] right after the call returns.
//! * Status: exports that can fail return an `i32`, `>= 0` on success and [`STATUS_ERROR`] on a
//!   reported error. The error's code and message reach JS through the imported `env.ig_error`
//!   before the export returns, so nothing has to be fetched afterwards.
//! * Panics: the panic hook hands the message to the imported `env.ig_panic`, then the module
//!   aborts (`unreachable`). JS turns the trap into a typed error and throws the instance away,
//!   because a panic can leave the allocator half-updated.

use std::alloc::{alloc, dealloc, Layout};
use std::cell::RefCell;

/// Returned by fallible exports when they reported an error through `env.ig_error`.
pub const STATUS_ERROR: i32 = -1;

/// Error codes shared with `src/wasm/core.ts` (`RUST_ERROR_CODES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    InvalidArgument = 1,
    InvalidUtf8 = 2,
    InvalidJson = 3,
    OutOfRange = 4,
    NonFinite = 5,
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn ig_error(code: u32, ptr: *const u8, len: usize);
        pub fn ig_panic(ptr: *const u8, len: usize);
        pub fn ig_oom(bytes: usize);
    }
}

/// Native builds (cargo test) have no JS host: errors and panics go to stderr.
#[cfg(not(target_arch = "wasm32"))]
mod host {
    pub unsafe fn ig_error(code: u32, ptr: *const u8, len: usize) {
        let msg = std::str::from_utf8(std::slice::from_raw_parts(ptr, len)).unwrap_or("?");
        eprintln!("ig_core error {code}: {msg}");
    }
    pub unsafe fn ig_panic(_ptr: *const u8, _len: usize) {}
    pub unsafe fn ig_oom(_bytes: usize) {}
}

/// The system allocator, counting the bytes in use (`ig_allocated_bytes`: leak tests assert on it,
/// not on linear-memory pages, which never shrink) and telling the host the size of a request it
/// could not serve before Rust aborts: running out of the wasm32 address space (4 GiB) then surfaces
/// as a typed limit error that says so, not as a panic that looks like a bug.
struct Reporting;

static IN_USE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Reporting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = std::alloc::System.alloc(layout);
        if p.is_null() {
            host::ig_oom(layout.size());
        } else {
            IN_USE.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let p = std::alloc::System.alloc_zeroed(layout);
        if p.is_null() {
            host::ig_oom(layout.size());
        } else {
            IN_USE.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        IN_USE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        std::alloc::System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let p = std::alloc::System.realloc(ptr, layout, new_size);
        if p.is_null() {
            host::ig_oom(new_size);
        } else {
            IN_USE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
            IN_USE.fetch_add(new_size, std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
}

/// Bytes the Rust side holds right now (allocations minus frees).
#[no_mangle]
pub extern "C" fn ig_allocated_bytes() -> usize {
    IN_USE.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: Reporting = Reporting;

/// Hands `message` to the host as an error with `code`; returns [`STATUS_ERROR`] so callers can
/// write `return report(...)`.
pub fn report(code: ErrorCode, message: &str) -> i32 {
    unsafe { host::ig_error(code as u32, message.as_ptr(), message.len()) };
    STATUS_ERROR
}

thread_local! {
    static OUT: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

/// Replaces the output slot with `bytes`.
pub fn set_out(bytes: Vec<u8>) {
    OUT.with(|out| *out.borrow_mut() = bytes);
}

#[no_mangle]
pub extern "C" fn ig_out_ptr() -> *const u8 {
    OUT.with(|out| out.borrow().as_ptr())
}

#[no_mangle]
pub extern "C" fn ig_out_len() -> usize {
    OUT.with(|out| out.borrow().len())
}

/// Allocates `len` bytes aligned to 8 (enough for f64 views). `len == 0` gives a dangling,
/// well-aligned pointer that must still be passed back to [`ig_free`] with `len == 0`.
#[no_mangle]
pub extern "C" fn ig_alloc(len: usize) -> *mut u8 {
    if len == 0 {
        return 8 as *mut u8;
    }
    match Layout::from_size_align(len, 8) {
        Ok(layout) => unsafe { alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}

/// Frees a buffer from [`ig_alloc`].
///
/// # Safety
/// `ptr` must come from `ig_alloc(len)` with the same `len` and not have been freed.
#[no_mangle]
pub unsafe extern "C" fn ig_free(ptr: *mut u8, len: usize) {
    if len == 0 || ptr.is_null() {
        return;
    }
    dealloc(ptr, Layout::from_size_align_unchecked(len, 8));
}

/// Borrows `(ptr, len)` from JS as bytes.
///
/// # Safety
/// The range must lie inside linear memory; JS guarantees it by allocating through `ig_alloc`.
pub unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, len)
    }
}

/// Borrows `n` elements at `ptr` (any `n`, including 0, with a possibly dangling `ptr`).
///
/// # Safety
/// For `n > 0`, `ptr` must point to `n` initialised, aligned elements inside linear memory.
pub unsafe fn slice<'a, T>(ptr: *const T, n: usize) -> &'a [T] {
    if n == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, n)
    }
}

/// Mutable twin of [`slice`].
///
/// # Safety
/// As for [`slice`], and nothing else may alias the range.
pub unsafe fn slice_mut<'a, T>(ptr: *mut T, n: usize) -> &'a mut [T] {
    if n == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(ptr, n)
    }
}

/// Checks that `offsets` (length k+1) starts at 0, never decreases and ends at `total`.
pub fn check_offsets(offsets: &[u32], total: usize, what: &str) -> Result<(), i32> {
    if offsets.first() != Some(&0) {
        return Err(report(ErrorCode::InvalidArgument, &format!("{what}: offsets must start at 0")));
    }
    for i in 1..offsets.len() {
        if offsets[i] < offsets[i - 1] {
            return Err(report(ErrorCode::InvalidArgument, &format!("{what}: offsets decrease at index {i}")));
        }
    }
    if *offsets.last().unwrap() as usize != total {
        return Err(report(
            ErrorCode::InvalidArgument,
            &format!("{what}: offsets end at {} but there are {total} elements", offsets.last().unwrap()),
        ));
    }
    Ok(())
}

/// Splits a UTF-8 blob at `offsets` (k+1 byte offsets) into k strings, validating both.
pub fn split_strings<'a>(blob: &'a [u8], offsets: &[u32], what: &str) -> Result<Vec<&'a str>, i32> {
    check_offsets(offsets, blob.len(), what)?;
    let mut out = Vec::with_capacity(offsets.len().saturating_sub(1));
    for i in 0..offsets.len().saturating_sub(1) {
        let bytes = &blob[offsets[i] as usize..offsets[i + 1] as usize];
        match std::str::from_utf8(bytes) {
            Ok(s) => out.push(s),
            Err(e) => {
                return Err(report(
                    ErrorCode::InvalidUtf8,
                    &format!("{what}[{i}]: invalid UTF-8 at byte {}", e.valid_up_to()),
                ))
            }
        }
    }
    Ok(out)
}

/// Objects that live inside the module (indexes, tokenizers), named in JS by integer handles.
/// Freed slots are reused; a stale handle finds nothing instead of another object's data only
/// until its slot is reused, so JS also tracks liveness on its side.
pub struct Slab<T> {
    items: Vec<Option<T>>,
}

impl<T> Slab<T> {
    pub const fn new() -> Slab<T> {
        Slab { items: Vec::new() }
    }

    pub fn insert(&mut self, item: T) -> i32 {
        match self.items.iter().position(|s| s.is_none()) {
            Some(free) => {
                self.items[free] = Some(item);
                free as i32
            }
            None => {
                self.items.push(Some(item));
                self.items.len() as i32 - 1
            }
        }
    }

    pub fn get(&self, handle: u32) -> Option<&T> {
        self.items.get(handle as usize).and_then(|s| s.as_ref())
    }

    /// True if `handle` was live.
    pub fn remove(&mut self, handle: u32) -> bool {
        matches!(self.items.get_mut(handle as usize).map(|s| s.take()), Some(Some(_)))
    }
}

/// Installs the hook that forwards panic messages to the host. Called by JS once per instance.
#[no_mangle]
pub extern "C" fn ig_init() {
    std::panic::set_hook(Box::new(|info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(s) => (*s).to_string(),
            None => match info.payload().downcast_ref::<String>() {
                Some(s) => s.clone(),
                None => "panic with a non-string payload".to_string(),
            },
        };
        let full = match info.location() {
            Some(loc) => format!("{message} (at {}:{})", loc.file(), loc.line()),
            None => message,
        };
        unsafe { host::ig_panic(full.as_ptr(), full.len()) };
    }));
}

/// The crate version, in the output slot.
#[no_mangle]
pub extern "C" fn ig_version() {
    set_out(env!("CARGO_PKG_VERSION").as_bytes().to_vec());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_string_blobs_are_checked() {
        assert!(check_offsets(&[0, 2, 5], 5, "x").is_ok());
        assert!(check_offsets(&[1, 5], 5, "x").is_err()); // not from 0
        assert!(check_offsets(&[0, 3, 2, 5], 5, "x").is_err()); // decreasing
        assert!(check_offsets(&[0, 4], 5, "x").is_err()); // not to the end
        assert_eq!(split_strings("héllo!".as_bytes(), &[0, 3, 7], "s").unwrap(), ["hé", "llo!"]);
        assert!(split_strings("héllo".as_bytes(), &[0, 2, 6], "s").is_err()); // cuts the é in half
    }
}
