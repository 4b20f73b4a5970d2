//! The guest's standard output and standard error, routed into the action
//! log instead of the host's own streams.

use super::log::{ActionLog, LogSource};
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

/// One of the guest's output streams, writing into an [`ActionLog`].
#[derive(Clone)]
pub(crate) struct LogStream {
    log: ActionLog,
    source: LogSource,
    tail: Option<Tail>,
}

impl LogStream {
    pub(crate) fn new(log: ActionLog, source: LogSource) -> Self {
        LogStream {
            log,
            source,
            tail: None,
        }
    }

    /// Also keeps the last output in `tail`.
    pub(crate) fn with_tail(mut self, tail: Tail) -> Self {
        self.tail = Some(tail);
        self
    }

    fn write_bytes(&self, bytes: &[u8]) {
        self.log.append(self.source, bytes);
        if let Some(tail) = &self.tail {
            tail.push(bytes);
        }
    }
}

/// The last 4 KiB written to one or more streams.
#[derive(Clone, Default)]
pub(crate) struct Tail(std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<u8>>>);

impl Tail {
    fn push(&self, bytes: &[u8]) {
        let mut tail = self.0.lock().unwrap();
        tail.extend(bytes);
        let excess = tail.len().saturating_sub(4096);
        tail.drain(..excess);
    }

    /// What was kept, as text.
    pub(crate) fn text(&self) -> String {
        let tail: Vec<u8> = self.0.lock().unwrap().iter().copied().collect();
        String::from_utf8_lossy(&tail).into_owned()
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// How much the guest may write in one call; the log itself is unbounded
/// up to its cap, so writes never block.
const WRITE_BUDGET: usize = 64 * 1024;

impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
