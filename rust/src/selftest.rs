//! Exports that prove the boundary works: strings and typed arrays both ways, reported errors and
//! panics. `ig-search doctor` and the Wasm tests call them; they cost a few hundred bytes.

use crate::ffi::{bytes, report, set_out, ErrorCode};

/// Decodes `(ptr, len)` as UTF-8 into chars and encodes it again into the output slot; returns
/// the number of Unicode scalar values. Invalid UTF-8 is reported with the byte offset.
///
/// # Safety
/// `(ptr, len)` must be a live buffer from `ig_alloc`.
#[no_mangle]
pub unsafe extern "C" fn ig_selftest_utf8(ptr: *const u8, len: usize) -> i32 {
    let text = match std::str::from_utf8(bytes(ptr, len)) {
        Ok(text) => text,
        Err(e) => {
            let at = e.valid_up_to();
            return report(ErrorCode::InvalidUtf8, &format!("invalid UTF-8 at byte {at}"));
        }
    };
    let chars: Vec<char> = text.chars().collect();
    set_out(chars.iter().collect::<String>().into_bytes());
    chars.len() as i32
}

/// Writes `out[i] = x[i] * scale` for `n` f32 values (zero-copy views on both sides) and returns
/// nothing; a non-finite scale is a reported error and leaves `out` untouched.
///
/// # Safety
/// `x` and `out` must each point to `n` f32 values inside buffers from `ig_alloc`.
#[no_mangle]
pub unsafe extern "C" fn ig_selftest_scale_f32(x: *const f32, n: usize, scale: f32, out: *mut f32) -> i32 {
    if !scale.is_finite() {
        return report(ErrorCode::NonFinite, &format!("scale must be finite, got {scale}"));
    }
    let x = std::slice::from_raw_parts(x, n);
    let out = std::slice::from_raw_parts_mut(out, n);
    for (o, v) in out.iter_mut().zip(x) {
        *o = v * scale;
    }
    0
}

/// Panics with the given message; exists so the panic → `IgSearchError` path is tested for real.
///
/// # Safety
/// `(ptr, len)` must be a live buffer from `ig_alloc`.
#[no_mangle]
pub unsafe extern "C" fn ig_selftest_panic(ptr: *const u8, len: usize) {
    let message = String::from_utf8_lossy(bytes(ptr, len)).into_owned();
    panic!("{}", message);
}

/// Asks the allocator for `bytes` bytes and keeps them; exists so the out-of-memory → typed limit
/// error path is tested for real (a request past the 4 GiB wasm32 space fails at once).
#[no_mangle]
pub extern "C" fn ig_selftest_alloc(bytes: usize) -> usize {
    let mut v: Vec<u8> = Vec::with_capacity(bytes);
    v.push(1);
    let len = v.capacity();
    std::mem::forget(v);
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_roundtrip_counts_scalars() {
        let s = "héllo 世界 🙂";
        let n = unsafe { ig_selftest_utf8(s.as_ptr(), s.len()) };
        assert_eq!(n, s.chars().count() as i32);
    }
}
