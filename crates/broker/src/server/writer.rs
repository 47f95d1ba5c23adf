//! Writes encoded responses to a socket. In the clear: in-memory chunks with vectored writes,
//! log file regions with `sendfile`, so record bytes go from the page cache to the socket
//! uncopied. Under TLS the bytes must pass through the encryption: file regions are read in
//! pieces of [`TLS_READ_BYTES`] (one copy) and the response flushed as a whole.

use std::io::IoSlice;
use std::os::unix::fs::FileExt;

use protocol::FrameChunk;
use tokio::io::{AsyncWriteExt, Interest, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_rustls::server::TlsStream;

/// Most chunks handed to one vectored write.
const IOVECS_MAX: usize = 64;
/// A file region's piece read per step under TLS.
const TLS_READ_BYTES: usize = 64 * 1024;

/// A connection's sending side.
pub enum ResponseWriter {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl ResponseWriter {
    /// Writes every chunk of one response, in order.
    pub async fn write_chunks(&mut self, chunks: &[FrameChunk]) -> std::io::Result<()> {
        match self {
            Self::Plain(socket) => write_chunks(socket, chunks).await,
            Self::Tls(stream) => write_chunks_tls(stream, chunks).await,
        }
    }

    /// Ends the stream (a TLS close_notify), bounded by the caller.
    pub async fn shutdown(&mut self) {
        let _ = match self {
            Self::Plain(socket) => socket.shutdown().await,
            Self::Tls(stream) => stream.shutdown().await,
        };
    }
}

async fn write_chunks_tls(
    stream: &mut WriteHalf<TlsStream<TcpStream>>,
    chunks: &[FrameChunk],
) -> std::io::Result<()> {
    let mut piece = Vec::new();
    for chunk in chunks {
        match chunk {
            FrameChunk::Bytes(bytes) => stream.write_all(bytes).await?,
            FrameChunk::File(region) => {
                let mut position = region.position;
                let mut left = region.length;
                while left > 0 {
                    let want = left.min(TLS_READ_BYTES);
                    piece.resize(want, 0);
                    // Page-cache reads of data just fetched: short, so done inline.
                    let read = region.file.read_at(&mut piece, position)?;
                    if read == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "log file ended before the fetched region",
                        ));
                    }
                    stream.write_all(&piece[..read]).await?;
                    position += read as u64;
                    left -= read;
                }
            }
        }
    }
    stream.flush().await
}

/// Writes every chunk of one response, in order.
async fn write_chunks(socket: &mut OwnedWriteHalf, chunks: &[FrameChunk]) -> std::io::Result<()> {
    let mut index = 0;
    while index < chunks.len() {
        match &chunks[index] {
            FrameChunk::File(region) => {
                send_file(socket, region).await?;
                index += 1;
            }
            FrameChunk::Bytes(_) => {
                let end = chunks[index..]
                    .iter()
                    .position(|c| matches!(c, FrameChunk::File(_)))
                    .map_or(chunks.len(), |p| index + p)
                    .min(index + IOVECS_MAX);
                let buffers: Vec<&[u8]> = chunks[index..end]
                    .iter()
                    .map(|c| match c {
                        FrameChunk::Bytes(b) => b.as_ref(),
                        FrameChunk::File(_) => &[][..],
                    })
                    .collect();
                write_all_vectored(socket, &buffers).await?;
                index = end;
            }
        }
    }
    Ok(())
}

async fn write_all_vectored(socket: &mut OwnedWriteHalf, buffers: &[&[u8]]) -> std::io::Result<()> {
    let mut buffer_index = 0;
    let mut offset = 0;
    while buffer_index < buffers.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&buffers[buffer_index][offset..])
            .chain(buffers[buffer_index + 1..].iter().copied())
            .map(IoSlice::new)
            .collect();
        let mut written = socket.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while buffer_index < buffers.len() && written > 0 {
            let left = buffers[buffer_index].len() - offset;
            if written >= left {
                written -= left;
                buffer_index += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
    }
    Ok(())
}

async fn send_file(
    socket: &mut OwnedWriteHalf,
    region: &protocol::codec::FileRegion,
) -> std::io::Result<()> {
    let stream = socket.as_ref();
    let mut position = region.position as i64;
    let mut left = region.length;
    while left > 0 {
        stream.writable().await?;
        let result = stream.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile64(stream, region.file.as_ref(), Some(&mut position), left)
                .map_err(std::io::Error::from)
        });
        match result {
            Ok(0) => {
                // The file is shorter than the region: the log was truncated under us. The
                // client would wait for bytes that never come; end the connection instead.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "log file ended before the fetched region",
                ));
            }
            Ok(sent) => left -= sent,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
