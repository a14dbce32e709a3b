//! A bounded in-memory sink for a guest's stdout and stderr.
//!
//! The host shows what a guest printed next to the error it caused, so both streams are
//! captured. wasmtime-wasi's own `MemoryOutputPipe` traps the guest once its capacity is used
//! up, which would eventually kill a long-lived instance that logs a line per request. This
//! sink instead keeps the first `limit` bytes written since the last [`Capture::take`], counts
//! the rest, and never fails a write.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// A cloneable handle to one captured stream.
#[derive(Clone, Debug)]
pub struct Capture {
    inner: Arc<Shared>,
}

/// The buffer, and a flag that lets [`Capture::take`] skip the lock when nothing was written,
/// which is almost every call: the host takes both streams before and after each request.
#[derive(Debug)]
struct Shared {
    written: AtomicBool,
    buffer: Mutex<Buffer>,
}

#[derive(Debug)]
struct Buffer {
    limit: usize,
    kept: Vec<u8>,
    dropped: usize,
}

impl Capture {
    /// Creates a sink that keeps at most `limit` bytes between two calls of [`Capture::take`].
    pub fn new(limit: usize) -> Capture {
        let buffer = Buffer { limit, kept: Vec::new(), dropped: 0 };
        Capture { inner: Arc::new(Shared { written: AtomicBool::new(false), buffer: Mutex::new(buffer) }) }
    }

    fn append(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut buffer = self.inner.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let room = buffer.limit.saturating_sub(buffer.kept.len());
        let keep = room.min(bytes.len());
        buffer.kept.extend_from_slice(&bytes[..keep]);
        buffer.dropped += bytes.len() - keep;
        // Set under the lock, so that a `take` that clears it also empties the buffer.
        self.inner.written.store(true, Ordering::Release);
    }

    /// Whether nothing was written since the last [`Capture::take`].
    #[inline]
    pub fn is_empty(&self) -> bool {
        !self.inner.written.load(Ordering::Acquire)
    }

    /// Returns what was written since the last call, as lossy UTF-8, and starts afresh.
    #[inline]
    pub fn take(&self) -> String {
        // Nothing written since the last take: no lock, no allocation. A write that races with
        // this check is kept for the next take, as if it had come just after this one.
        if self.is_empty() {
            return String::new();
        }
        self.take_written()
    }

    #[cold]
    fn take_written(&self) -> String {
        let mut buffer = self.inner.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        self.inner.written.store(false, Ordering::Relaxed);
        let mut text = String::from_utf8_lossy(&buffer.kept).into_owned();
        if buffer.dropped > 0 {
            text.push_str(&format!("\n[{} more bytes not kept]", buffer.dropped));
        }
        buffer.kept.clear();
        buffer.dropped = 0;
        text
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Writes never block: what does not fit is counted, not refused.
        Ok(usize::MAX / 2)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let capture = Capture::new(4);
        capture.append(b"abc");
        capture.append(b"defgh");
        assert_eq!(capture.take(), "abcd\n[4 more bytes not kept]");
        assert_eq!(capture.take(), "");
        capture.append(b"xy");
        assert_eq!(capture.take(), "xy");
        // Clones share the stream, and an empty write leaves it empty.
        let clone = capture.clone();
        clone.append(b"");
        assert_eq!(capture.take(), "");
        clone.append(b"z");
        assert_eq!(capture.take(), "z");
        assert_eq!(clone.take(), "");
    }
}
