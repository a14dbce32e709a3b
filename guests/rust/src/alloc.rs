//! The guest's global allocator, chosen by cargo feature.
//!
//! `conservative` uses the system allocator, wasi-libc's dlmalloc, which frees. `leaking` hands
//! out memory from chunks that it takes from that same `malloc` and never gives back, like
//! TinyGo's `-gc=leaking`: `dealloc` does nothing, so linear memory only grows. Taking chunks from
//! `malloc` rather than `memory.grow` keeps one owner of the heap, so the `malloc` the host calls
//! for its scratch area and the guest's own allocations never overlap.

#[cfg(all(feature = "leaking", feature = "conservative"))]
compile_error!("choose one allocator mode: `leaking` or `conservative`, not both");

// A native build (`cargo test --workspace` checks that the guest compiles) uses the system
// allocator; a wasm build must choose.
#[cfg(all(target_arch = "wasm32", not(any(feature = "leaking", feature = "conservative"))))]
compile_error!("choose an allocator mode with `--features leaking` or `--features conservative`");

#[cfg(feature = "leaking")]
#[global_allocator]
static ALLOCATOR: leaking::Bump = leaking::Bump::new();

#[cfg(feature = "leaking")]
mod leaking {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// Bytes taken from `malloc` at a time; a larger allocation gets a chunk of its own.
    const CHUNK: usize = 1 << 20;

    /// A bump allocator over chunks that are never freed.
    pub struct Bump {
        next: Cell<usize>,
        end: Cell<usize>,
    }

    // SAFETY: wasm32-wasip1 guests are single-threaded, so the cells are never shared.
    unsafe impl Sync for Bump {}

    impl Bump {
        pub const fn new() -> Self {
            Self { next: Cell::new(0), end: Cell::new(0) }
        }
    }

    // SAFETY: every block handed out lies in a chunk that is never freed or handed out again.
    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if layout.size() + layout.align() > CHUNK / 2 {
                // SAFETY: forwarded from the caller, who passes a non-zero size.
                return unsafe { System.alloc(layout) };
            }
            let mut start = self.next.get().next_multiple_of(layout.align());
            if self.next.get() == 0 || start + layout.size() > self.end.get() {
                // SAFETY: `CHUNK` is non-zero and 16 is a power of two.
                let chunk = unsafe { System.alloc(Layout::from_size_align_unchecked(CHUNK, 16)) } as usize;
                if chunk == 0 {
                    return std::ptr::null_mut();
                }
                self.end.set(chunk + CHUNK);
                start = chunk.next_multiple_of(layout.align());
            }
            self.next.set(start + layout.size());
            start as *mut u8
        }

        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
    }
}
