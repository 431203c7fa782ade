//! Fixed-capacity arrays for the flow table's big, randomly accessed memory (slots and index),
//! aligned to 2 MiB and advised for transparent huge pages.
//!
//! Every lookup lands on a random slot and index entry. With 4 KiB pages nearly every one of them
//! also misses the TLB, and in a virtual machine a TLB miss is a nested page walk: on the benchmark
//! this cost a third of the pipeline's throughput. Arrays of at least half a [`HUGE_PAGE`] are therefore
//! allocated 2 MiB-aligned in whole 2 MiB units and marked `MADV_HUGEPAGE` (Linux; the kernel's
//! `transparent_hugepage` setting must be `madvise` or `always`, otherwise this is a no-op). Smaller
//! arrays are cache-line aligned and exact.
//!
//! Elements are `Copy` (no drop glue), only the first `len` are initialised and reachable.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

pub const HUGE_PAGE: usize = 2 << 20;

pub struct HugeVec<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    cap: usize,
    layout: Layout,
}

// SAFETY: a HugeVec owns its elements like a Vec does.
unsafe impl<T: Copy + Send> Send for HugeVec<T> {}
// SAFETY: shared access only hands out shared references.
unsafe impl<T: Copy + Sync> Sync for HugeVec<T> {}

impl<T: Copy> HugeVec<T> {
    /// Room for `cap` elements (at least one), none initialised.
    pub fn with_capacity(cap: usize) -> HugeVec<T> {
        let cap = cap.max(1);
        let bytes = cap.checked_mul(size_of::<T>()).expect("flow table array size overflows").max(1);
        let (size, align) = if bytes >= HUGE_PAGE / 2 {
            (bytes.div_ceil(HUGE_PAGE) * HUGE_PAGE, HUGE_PAGE)
        } else {
            (bytes, 64.max(align_of::<T>()))
        };
        let layout = Layout::from_size_align(size, align).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else { handle_alloc_error(layout) };
        #[cfg(target_os = "linux")]
        if align == HUGE_PAGE {
            // SAFETY: the range is exactly the allocation made above. A refusal only costs speed.
            unsafe { libc::madvise(raw.cast(), size, libc::MADV_HUGEPAGE) };
        }
        HugeVec { ptr, len: 0, cap: size / size_of::<T>().max(1), layout }
    }

    /// `n` copies of `value`.
    pub fn from_elem(value: T, n: usize) -> HugeVec<T> {
        let mut v = HugeVec::<T>::with_capacity(n);
        for i in 0..n {
            // SAFETY: i < n <= cap.
            unsafe { v.ptr.as_ptr().add(i).write(value) };
        }
        v.len = n;
        v
    }

    /// Elements that fit in the allocation (at least the capacity asked for).
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes allocated.
    pub fn memory_bytes(&self) -> usize {
        self.layout.size()
    }

    /// Appends; panics when full (callers size the array).
    pub fn push(&mut self, value: T) {
        assert!(self.len < self.cap, "HugeVec is full ({} elements)", self.cap);
        // SAFETY: len < cap, so the write stays inside the allocation.
        unsafe { self.ptr.as_ptr().add(self.len).write(value) };
        self.len += 1;
    }
}

/// Advises transparent huge pages for the whole 2 MiB pages inside the `bytes` bytes at `start` (Linux;
/// elsewhere, and for ranges holding no whole huge page, nothing). For arrays whose elements are not
/// `Copy` and so cannot live in a [`HugeVec`]: call it on a fresh allocation before writing to it, as
/// pages already touched stay small.
pub fn advise_huge_pages<T>(start: *const T, bytes: usize) {
    let begin = (start as usize).next_multiple_of(HUGE_PAGE);
    let end = (start as usize).saturating_add(bytes) / HUGE_PAGE * HUGE_PAGE;
    #[cfg(target_os = "linux")]
    if end > begin {
        // SAFETY: the range lies inside an allocation the caller owns; MADV_HUGEPAGE is advice about
        // its backing pages and changes neither its contents nor its validity. A refusal only costs
        // speed.
        unsafe { libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (begin, end);
}

impl<T: Copy> Deref for HugeVec<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: the first `len` elements are initialised.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> DerefMut for HugeVec<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: the first `len` elements are initialised and uniquely borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeVec<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `with_capacity` with this layout; T has no drop glue (Copy).
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_arrays_are_exact_and_large_ones_huge_aligned() {
        let small: HugeVec<u64> = HugeVec::from_elem(7, 100);
        assert_eq!((small.len(), small.memory_bytes()), (100, 800));
        assert!(small.iter().all(|&v| v == 7));
        let big: HugeVec<u64> = HugeVec::from_elem(u64::MAX, 300_000);
        assert_eq!(big.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(big.memory_bytes(), 2 * HUGE_PAGE);
        let half: HugeVec<u8> = HugeVec::with_capacity(HUGE_PAGE / 2);
        assert_eq!((half.as_ptr() as usize % HUGE_PAGE, half.memory_bytes()), (0, HUGE_PAGE));
        assert_eq!(big.capacity(), 2 * HUGE_PAGE / 8);
        assert_eq!(big[299_999], u64::MAX);
    }

    #[test]
    fn push_fills_then_refuses() {
        let mut v: HugeVec<[u8; 3]> = HugeVec::with_capacity(2);
        let cap = v.capacity();
        for i in 0..cap {
            v.push([i as u8; 3]);
        }
        assert_eq!(v.last(), Some(&[(cap - 1) as u8; 3]));
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.push([0; 3]))).is_err());
    }
}
