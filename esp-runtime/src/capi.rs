//! The C ABI (feature `capi`): `extern "C"` functions over [`Model`], for C
//! firmware linking this crate as a `staticlib`. The declarations are
//! [`crate::export::C_API`], which `ferrograd export` writes into every C
//! header. Every function returns 0 or a negative [`Error::code`]
//! ([`NULL_POINTER`] for a null pointer); none panics. Input, output and
//! scratch buffers must not overlap (no in-place calls).
//!
//! A `no_std` staticlib also needs a panic handler and (because the tensor
//! crate links `alloc`) a global allocator, which a library must not impose
//! on Rust users: `esp-runtime/staticlib/` is that wrapper crate.

use crate::{Error, Model};
use core::mem::{align_of, size_of, MaybeUninit};

/// Code returned when a required pointer is null.
pub const NULL_POINTER: i32 = -12;

/// Caller-owned storage for a parsed model (`fg_model` in C). It borrows
/// the blob given to [`fg_model_open`], which must outlive it.
#[repr(C)]
pub struct FgModel {
    opaque: [MaybeUninit<u64>; 16],
}

const _: () = assert!(size_of::<Model<'static>>() <= size_of::<FgModel>());
const _: () = assert!(align_of::<Model<'static>>() <= align_of::<FgModel>());

/// The model stored in `m` by a successful [`fg_model_open`].
///
/// # Safety
/// `m` is null or was filled by a successful [`fg_model_open`] whose blob is
/// still alive.
unsafe fn model<'a>(m: *const FgModel) -> Option<&'a Model<'a>> {
    // SAFETY: per the contract, a non-null `m` holds an initialised `Model`.
    unsafe { m.cast::<Model<'a>>().as_ref() }
}

/// A slice from a C pointer and length; `None` for a null pointer with a
/// non-zero length.
///
/// # Safety
/// A non-null `p` points to `len` readable floats.
unsafe fn floats<'a>(p: *const f32, len: usize) -> Option<&'a [f32]> {
    if len == 0 {
        return Some(&[]);
    }
    // SAFETY: per the contract.
    (!p.is_null()).then(|| unsafe { core::slice::from_raw_parts(p, len) })
}

/// A mutable slice from a C pointer and length.
///
/// # Safety
/// A non-null `p` points to `len` writable floats, not aliased.
unsafe fn floats_mut<'a>(p: *mut f32, len: usize) -> Option<&'a mut [f32]> {
    if len == 0 {
        return Some(&mut []);
    }
    // SAFETY: per the contract.
    (!p.is_null()).then(|| unsafe { core::slice::from_raw_parts_mut(p, len) })
}

fn code(r: Result<(), Error>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

/// Parses and checks `len` bytes at `blob` into `*out`.
///
/// # Safety
/// `blob` points to `len` readable bytes that outlive `*out`; `out` points
/// to writable `FgModel` storage.
#[no_mangle]
pub unsafe extern "C" fn fg_model_open(blob: *const u8, len: usize, out: *mut FgModel) -> i32 {
    if blob.is_null() || out.is_null() {
        return NULL_POINTER;
    }
    // SAFETY: per the contract.
    let bytes = unsafe { core::slice::from_raw_parts(blob, len) };
    match Model::from_bytes(bytes) {
        Ok(m) => {
            // SAFETY: `out` is valid, large and aligned enough (asserted above).
            unsafe { out.cast::<Model<'_>>().write(m) };
            0
        }
        Err(e) => e.code(),
    }
}

/// The model's kind (1 MLP, 2 MAF, 3 MDN), or [`NULL_POINTER`].
///
/// # Safety
/// As for every function here: `m` is null or opened by [`fg_model_open`].
#[no_mangle]
pub unsafe extern "C" fn fg_model_kind(m: *const FgModel) -> i32 {
    // SAFETY: forwarded contract.
    unsafe { model(m) }.map_or(NULL_POINTER, |m| m.kind() as i32)
}

/// Width of x (density) or of the input (MLP); 0 for a null model.
///
/// # Safety
/// `m` is null or opened by [`fg_model_open`].
#[no_mangle]
pub unsafe extern "C" fn fg_model_dim(m: *const FgModel) -> usize {
    // SAFETY: forwarded contract.
    unsafe { model(m) }.map_or(0, |m| m.dim())
}

/// Width of the features (density) or of the output (MLP); 0 for a null
/// model.
///
/// # Safety
/// `m` is null or opened by [`fg_model_open`].
#[no_mangle]
pub unsafe extern "C" fn fg_model_features(m: *const FgModel) -> usize {
    // SAFETY: forwarded contract.
    unsafe { model(m) }.map_or(0, |m| m.features())
}

/// Floats of scratch the model's calls need; 0 for a null model.
///
/// # Safety
/// `m` is null or opened by [`fg_model_open`].
#[no_mangle]
pub unsafe extern "C" fn fg_model_scratch_len(m: *const FgModel) -> usize {
    // SAFETY: forwarded contract.
    unsafe { model(m) }.map_or(0, |m| m.scratch_len())
}

/// `*out = log p(x | features)`.
///
/// # Safety
/// `m` as above; each pointer is null or valid for its length (`out` for
/// one float); the buffers do not overlap.
#[no_mangle]
pub unsafe extern "C" fn fg_log_prob(
    m: *const FgModel,
    x: *const f32,
    x_len: usize,
    features: *const f32,
    features_len: usize,
    scratch: *mut f32,
    scratch_len: usize,
    out: *mut f32,
) -> i32 {
    // SAFETY: forwarded contract.
    let args = unsafe {
        (
            model(m),
            floats(x, x_len),
            floats(features, features_len),
            floats_mut(scratch, scratch_len),
            out.as_mut(),
        )
    };
    let (Some(m), Some(x), Some(f), Some(s), Some(out)) = args else {
        return NULL_POINTER;
    };
    code(m.log_prob(x, f, s).map(|lp| *out = lp))
}

/// `n` samples with `seed`, row by row, into `out` (`n · dim` floats).
///
/// # Safety
/// `m` as above; each pointer is null or valid for its length; the buffers
/// do not overlap.
#[no_mangle]
pub unsafe extern "C" fn fg_sample(
    m: *const FgModel,
    features: *const f32,
    features_len: usize,
    n: usize,
    seed: u64,
    out: *mut f32,
    out_len: usize,
    scratch: *mut f32,
    scratch_len: usize,
) -> i32 {
    // SAFETY: forwarded contract.
    let args = unsafe {
        (
            model(m),
            floats(features, features_len),
            floats_mut(out, out_len),
            floats_mut(scratch, scratch_len),
        )
    };
    let (Some(m), Some(f), Some(out), Some(s)) = args else {
        return NULL_POINTER;
    };
    code(m.sample(f, n, out, seed, s))
}

/// `out = MLP(x)`.
///
/// # Safety
/// `m` as above; each pointer is null or valid for its length; the buffers
/// do not overlap.
#[no_mangle]
pub unsafe extern "C" fn fg_mlp_forward(
    m: *const FgModel,
    x: *const f32,
    x_len: usize,
    out: *mut f32,
    out_len: usize,
    scratch: *mut f32,
    scratch_len: usize,
) -> i32 {
    // SAFETY: forwarded contract.
    let args = unsafe {
        (
            model(m),
            floats(x, x_len),
            floats_mut(out, out_len),
            floats_mut(scratch, scratch_len),
        )
    };
    let (Some(m), Some(x), Some(out), Some(s)) = args else {
        return NULL_POINTER;
    };
    code(m.forward(x, out, s))
}
