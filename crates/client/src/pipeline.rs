//! Pipelining: several requests in flight on each of a few broker connections, every answer
//! matched to its request by correlation id and handed back through one queue. For throughput
//! tools (`runnel bench`), where one request at a time per connection (`Connection::send`) would
//! make the client the bottleneck.
//!
//! A broker answers one connection's requests in the order it received them (Kafka's network
//! layer mutes a connection until it has answered, Runnel's handler does the same), so each
//! connection keeps its requests in flight in a FIFO, oldest first (Kafka's `NetworkClient`
//! keeps the same in its `InFlightRequests`). The caller writes requests on a connection's write
//! half from its own task; one reader task per connection reads the answers in order off the
//! read half, checks each one's correlation id against the oldest request it was told of,
//! decodes it and puts it in the shared answer queue. The caller's `context` for each request
//! (what a Produce carried, which partitions a Fetch asked for) stays on the caller's side and
//! comes back with the answer.
//!
//! Bounds: at most `max_in_flight` requests per connection (Kafka's
//! `max.in.flight.requests.per.connection`); the answer queue holds every request in flight, so a
//! reader never waits on it; an answer frame's size is checked against `RESPONSE_BYTES_MAX`
//! before it is buffered; a write must finish within the request timeout, and an answer must
//! arrive within the request timeout (plus the wait the request asked the broker for) of its
//! request being written.
//!
//! Invariant: every request `send` accepted gets exactly one `Answer`. A connection that failed
//! (I/O error, timeout, an answer that does not decode or is not the oldest request's) is closed:
//! the request that failed is answered with the error, every later one in flight with
//! `connection closed`, and `send` on it fails at once.
//!
//! Not here: retries, reconnecting, choosing partitions or leaders (the caller's), requests
//! without an answer other than Produce with acks=0 (`send_without_response`).

use std::collections::{BTreeMap, VecDeque};
use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use protocol::generated::RequestHeader;
use protocol::{ApiKey, Encoder, FrameChunk, Message, RequestBody, ResponseBody};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connection::{Connection, RESPONSE_BYTES_MAX};
use crate::{Client, ClientError};

/// The least room made in a reader's buffer for each read (several small answers, such as
/// Produce acknowledgements, then come in one read).
const READ_BUFFER_BYTES: usize = 64 << 10;

/// The read half of a connection's stream, whatever the stream is (TCP, TLS).
pub(crate) type StreamReader = Box<dyn AsyncRead + Unpin + Send>;
/// The write half of a connection's stream.
pub(crate) type StreamWriter = Box<dyn AsyncWrite + Unpin + Send>;

/// The answer to one request sent with [`Pipeline::send`].
#[derive(Debug)]
pub struct Answer<T> {
    /// The broker that answered.
    pub node: i32,
    /// What the caller gave `send` with the request.
    pub context: T,
    /// When the request started to be written.
    pub sent_at: Instant,
    /// When its answer had been read off the socket (before decoding).
    pub answered_at: Instant,
    pub response: Result<ResponseBody, ClientError>,
}

impl<T> Answer<T> {
    /// From the start of the request's write to its answer read back.
    pub fn latency(&self) -> Duration {
        self.answered_at.saturating_duration_since(self.sent_at)
    }
}

/// Connections to a set of brokers, each with up to `max_in_flight` requests in flight.
pub struct Pipeline<T> {
    connections: BTreeMap<i32, PipelinedConnection<T>>,
    /// Answers from every connection's reader, in the order they were read.
    answers: mpsc::Receiver<ReadAnswer>,
    /// Answers made here for requests of a closed connection, handed out before `answers`.
    closed_answers: VecDeque<Answer<T>>,
    max_in_flight: usize,
    request_timeout: Duration,
}

/// One connection: its write half, what it negotiated, and its requests in flight.
struct PipelinedConnection<T> {
    address: String,
    writer: StreamWriter,
    /// The version of each API asked for at `connect`, as ApiVersions negotiated it.
    versions: BTreeMap<i16, i16>,
    correlation_id: i32,
    client_id: String,
    /// Oldest first; at most `max_in_flight`. Invariant: the same requests, in the same order,
    /// as the reader task's queue holds or has read and not yet answered.
    in_flight: VecDeque<InFlight<T>>,
    /// The reader task's queue of what to expect next; `None` once the connection failed.
    expected: Option<mpsc::Sender<Expected>>,
    reader: JoinHandle<()>,
}

impl<T> Drop for PipelinedConnection<T> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A request in flight, as the caller's side keeps it.
struct InFlight<T> {
    correlation_id: i32,
    sent_at: Instant,
    context: T,
}

/// What the reader task needs to read and decode one answer.
struct Expected {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    deadline: tokio::time::Instant,
    /// The whole bound, for the timeout's message.
    timeout: Duration,
}

/// An answer as a reader task hands it over.
struct ReadAnswer {
    node: i32,
    correlation_id: i32,
    answered_at: Instant,
    response: Result<ResponseBody, ClientError>,
}

impl<T> Pipeline<T> {
    /// Opens one new connection to each of `nodes` (partition leaders: their addresses come from
    /// the client's metadata) and settles the version of each of `apis` on it, so an API a broker
    /// does not serve fails here (UNSUPPORTED_VERSION). `max_in_flight` is at least 1.
    pub async fn connect(
        client: &mut Client,
        nodes: &[i32],
        apis: &[ApiKey],
        max_in_flight: usize,
    ) -> Result<Pipeline<T>, ClientError> {
        if max_in_flight == 0 {
            return Err(ClientError::Invalid(
                "at least one request must be allowed in flight".into(),
            ));
        }
        let capacity = max_in_flight.saturating_mul(nodes.len().max(1));
        let (answers_sender, answers) = mpsc::channel(capacity);
        let mut connections = BTreeMap::new();
        for &node in nodes {
            if connections.contains_key(&node) {
                continue;
            }
            if !client.brokers.contains_key(&node) {
                client.metadata(Some(&[])).await?;
            }
            let address = client.brokers.get(&node).cloned().ok_or_else(|| {
                ClientError::Invalid(format!("broker {node} is not in the cluster"))
            })?;
            let connection = Connection::open(
                &address,
                &client.config.client_id,
                client.config.request_timeout,
                &client.config.security,
            )
            .await?;
            let mut versions = BTreeMap::new();
            for &api in apis {
                versions.insert(api as i16, connection.version(api)?);
            }
            let (address, reader, writer) = connection.into_split();
            let (expected, expected_receiver) = mpsc::channel(max_in_flight);
            let reader = tokio::spawn(read_answers(
                node,
                address.clone(),
                reader,
                expected_receiver,
                answers_sender.clone(),
            ));
            connections.insert(
                node,
                PipelinedConnection {
                    address,
                    writer,
                    versions,
                    correlation_id: 0,
                    client_id: client.config.client_id.clone(),
                    in_flight: VecDeque::with_capacity(max_in_flight),
                    expected: Some(expected),
                    reader,
                },
            );
        }
        Ok(Pipeline {
            connections,
            answers,
            closed_answers: VecDeque::new(),
            max_in_flight,
            request_timeout: client.config.request_timeout,
        })
    }

    /// The version of `api` to send to `node` (one of the `apis` given to `connect`).
    pub fn version(&self, node: i32, api: ApiKey) -> Result<i16, ClientError> {
        let connection = self.connection(node)?;
        connection
            .versions
            .get(&(api as i16))
            .copied()
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "{}: {} was not negotiated for this pipeline",
                    connection.address,
                    api.name()
                ))
            })
    }

    /// Whether `node`'s connection is open and has fewer than `max_in_flight` requests in flight.
    pub fn has_room(&self, node: i32) -> bool {
        self.connections.get(&node).is_some_and(|connection| {
            connection.expected.is_some() && connection.in_flight.len() < self.max_in_flight
        })
    }

    /// Requests in flight on `node`'s connection (0 for a closed or unknown one).
    pub fn in_flight_to(&self, node: i32) -> usize {
        self.connections
            .get(&node)
            .map_or(0, |connection| connection.in_flight.len())
    }

    /// Requests sent and not yet handed back by `next_answer`, over every connection.
    pub fn in_flight(&self) -> usize {
        self.connections
            .values()
            .map(|connection| connection.in_flight.len())
            .sum::<usize>()
            + self.closed_answers.len()
    }

    /// Writes `body` at `version` to `node` and remembers `context` for its answer. `extra_wait`
    /// lengthens the answer's timeout for a request the broker may hold (a fetch's long poll).
    /// An error means the request was not sent and gets no answer; the connection is then closed
    /// (its requests in flight are answered with errors).
    pub async fn send(
        &mut self,
        node: i32,
        version: i16,
        body: &RequestBody,
        extra_wait: Duration,
        context: T,
    ) -> Result<(), ClientError> {
        let max_in_flight = self.max_in_flight;
        let request_timeout = self.request_timeout;
        let connection = self.connection_mut(node)?;
        if connection.in_flight.len() >= max_in_flight {
            return Err(ClientError::Invalid(format!(
                "{}: {max_in_flight} requests are already in flight",
                connection.address
            )));
        }
        let Some(expected) = connection.expected.clone() else {
            return Err(connection.closed_error());
        };
        let api = body.api_key();
        let sent_at = Instant::now();
        let correlation_id = connection.write(version, body, request_timeout).await;
        let correlation_id = match correlation_id {
            Ok(correlation_id) => correlation_id,
            Err(error) => {
                self.close(node);
                return Err(error);
            }
        };
        let timeout = request_timeout + extra_wait;
        let told = expected
            .send(Expected {
                correlation_id,
                api,
                version,
                deadline: tokio::time::Instant::from_std(sent_at) + timeout,
                timeout,
            })
            .await;
        let connection = self.connection_mut(node)?;
        if told.is_err() {
            // The reader ended (the connection failed while this request was written): the
            // failure's answer is on its way; this request was sent but will get no answer.
            let error = connection.closed_error();
            self.close(node);
            return Err(error);
        }
        connection.in_flight.push_back(InFlight {
            correlation_id,
            sent_at,
            context,
        });
        Ok(())
    }

    /// Writes `body` to `node` expecting no answer (Produce with acks=0).
    pub async fn send_without_response(
        &mut self,
        node: i32,
        version: i16,
        body: &RequestBody,
    ) -> Result<(), ClientError> {
        let request_timeout = self.request_timeout;
        let connection = self.connection_mut(node)?;
        if connection.expected.is_none() {
            return Err(connection.closed_error());
        }
        match connection.write(version, body, request_timeout).await {
            Ok(_) => Ok(()),
            Err(error) => {
                self.close(node);
                Err(error)
            }
        }
    }

    /// The next answer from any connection, in the order they were read; `None` when nothing is
    /// in flight. An error answer closes its connection. Cancel-safe (its only wait is the
    /// queue's `recv`): it can race a timer in `select!` without losing an answer.
    pub async fn next_answer(&mut self) -> Option<Answer<T>> {
        loop {
            if let Some(answer) = self.closed_answers.pop_front() {
                return Some(answer);
            }
            if self.in_flight() == 0 {
                return None;
            }
            // Something is in flight on an open connection, whose reader answers it (or fails
            // and says so), and this side holds a sender: the queue cannot end.
            let read = self.answers.recv().await?;
            let connection = self
                .connections
                .get_mut(&read.node)
                .expect("answers come from this pipeline's connections");
            if connection.expected.is_none() {
                // Read before its connection was closed, and answered when it was.
                continue;
            }
            let request = connection
                .in_flight
                .pop_front()
                .expect("a reader answers only requests it was told of");
            assert_eq!(
                request.correlation_id, read.correlation_id,
                "a reader answers its connection's requests in order"
            );
            let failed = read.response.is_err();
            let answer = Answer {
                node: read.node,
                context: request.context,
                sent_at: request.sent_at,
                answered_at: read.answered_at,
                response: read.response,
            };
            if failed {
                self.close(read.node);
            }
            return Some(answer);
        }
    }

    fn connection(&self, node: i32) -> Result<&PipelinedConnection<T>, ClientError> {
        self.connections.get(&node).ok_or_else(|| {
            ClientError::Invalid(format!("no pipelined connection to broker {node}"))
        })
    }

    fn connection_mut(&mut self, node: i32) -> Result<&mut PipelinedConnection<T>, ClientError> {
        self.connections.get_mut(&node).ok_or_else(|| {
            ClientError::Invalid(format!("no pipelined connection to broker {node}"))
        })
    }

    /// Closes `node`'s connection: its reader stops and its requests in flight are answered
    /// with `connection closed`, in order.
    fn close(&mut self, node: i32) {
        let Some(connection) = self.connections.get_mut(&node) else {
            return;
        };
        connection.expected = None;
        connection.reader.abort();
        let now = Instant::now();
        while let Some(request) = connection.in_flight.pop_front() {
            self.closed_answers.push_back(Answer {
                node,
                context: request.context,
                sent_at: request.sent_at,
                answered_at: now,
                response: Err(connection.closed_error()),
            });
        }
    }
}

impl<T> PipelinedConnection<T> {
    /// Encodes and writes one request, record data not copied (a vectored write of the codec's
    /// chunks); answers its correlation id.
    async fn write(
        &mut self,
        version: i16,
        body: &RequestBody,
        timeout: Duration,
    ) -> Result<i32, ClientError> {
        let api = body.api_key();
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader {
            request_api_key: api as i16,
            request_api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let chunks = encode_frame(&header, body)?;
        match tokio::time::timeout(timeout, write_chunks(&mut self.writer, chunks)).await {
            Ok(Ok(())) => Ok(self.correlation_id),
            Ok(Err(source)) => Err(ClientError::Io {
                address: self.address.clone(),
                source,
            }),
            Err(_) => Err(ClientError::Timeout {
                address: self.address.clone(),
                api: api.name(),
                timeout_ms: timeout.as_millis(),
            }),
        }
    }

    fn closed_error(&self) -> ClientError {
        ClientError::Io {
            address: self.address.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "connection closed after an earlier error on it",
            ),
        }
    }
}

/// A request frame, size prefix included, as chunks: record data stays in the caller's `Bytes`.
fn encode_frame(header: &RequestHeader, body: &RequestBody) -> Result<Vec<Bytes>, ClientError> {
    let api = body.api_key();
    let encode_error = |source| ClientError::Encode {
        api: api.name(),
        source,
    };
    let version = header.request_api_version;
    let mut encoder = Encoder::zero_copy();
    encoder.put_i32(0); // the size, patched below
    header
        .encode(&mut encoder, api.request_header_version(version))
        .map_err(encode_error)?;
    body.encode(&mut encoder, version).map_err(encode_error)?;
    let size = i32::try_from(encoder.len() - 4).map_err(|_| {
        ClientError::Invalid(format!(
            "a {} request of {} bytes is too large to send",
            api.name(),
            encoder.len()
        ))
    })?;
    let mut chunks = Vec::new();
    for chunk in encoder.finish_chunks() {
        match chunk {
            FrameChunk::Bytes(bytes) => chunks.push(bytes),
            FrameChunk::File(_) => {
                return Err(ClientError::Invalid(
                    "a request cannot carry records from a file".into(),
                ));
            }
        }
    }
    // The encoder starts with its own buffer, so the first chunk holds the size prefix.
    let first = chunks.first_mut().expect("the size prefix was written");
    let mut patched = BytesMut::from(&first[..]);
    patched[..4].copy_from_slice(&size.to_be_bytes());
    *first = patched.freeze();
    Ok(chunks)
}

/// Writes every chunk, as few system calls as the stream allows (vectored writes).
async fn write_chunks(writer: &mut StreamWriter, mut chunks: Vec<Bytes>) -> std::io::Result<()> {
    let mut first = 0;
    while first < chunks.len() {
        let slices: Vec<IoSlice<'_>> = chunks[first..]
            .iter()
            .map(|chunk| IoSlice::new(chunk))
            .collect();
        let mut written = writer.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let chunk = &mut chunks[first];
            if written >= chunk.len() {
                written -= chunk.len();
                first += 1;
            } else {
                chunk.advance(written);
                written = 0;
            }
        }
        while chunks.get(first).is_some_and(Bytes::is_empty) {
            first += 1;
        }
    }
    writer.flush().await
}

/// A connection's reader task: for each request it is told of, oldest first, reads one answer
/// frame (within the request's deadline), checks its correlation id and decodes it. Ends after
/// the first failure (which it reports) or when the pipeline drops its queue.
async fn read_answers(
    node: i32,
    address: String,
    mut reader: StreamReader,
    mut expected: mpsc::Receiver<Expected>,
    answers: mpsc::Sender<ReadAnswer>,
) {
    let mut buffer = BytesMut::new();
    while let Some(request) = expected.recv().await {
        let read = read_frame(&mut reader, &mut buffer, &address);
        let read = tokio::time::timeout_at(request.deadline, read);
        let (answered_at, response) = match read.await {
            Err(_) => (
                Instant::now(),
                Err(ClientError::Timeout {
                    address: address.clone(),
                    api: request.api.name(),
                    timeout_ms: request.timeout.as_millis(),
                }),
            ),
            Ok(Err(error)) => (Instant::now(), Err(error)),
            Ok(Ok(payload)) => (Instant::now(), decode(&address, &request, payload)),
        };
        let failed = response.is_err();
        let answer = ReadAnswer {
            node,
            correlation_id: request.correlation_id,
            answered_at,
            response,
        };
        if answers.send(answer).await.is_err() || failed {
            return;
        }
    }
}

fn decode(address: &str, request: &Expected, payload: Bytes) -> Result<ResponseBody, ClientError> {
    let (correlation_id, body) = protocol::decode_response(request.api, request.version, payload)
        .map_err(|source| ClientError::Decode {
        address: address.to_string(),
        api: request.api.name(),
        version: request.version,
        source,
    })?;
    if correlation_id != request.correlation_id {
        return Err(ClientError::Correlation {
            address: address.to_string(),
            got: correlation_id,
            expected: request.correlation_id,
        });
    }
    Ok(body)
}

/// Reads one answer frame into `buffer` (which keeps what was read past it for the next one),
/// its size checked before room is made for it. Frames are split off one buffer rather than
/// each read into a fresh allocation: once the previous frames are dropped, `reserve` takes
/// their memory back, which spares the page faults of new memory on every large fetch.
async fn read_frame(
    reader: &mut StreamReader,
    buffer: &mut BytesMut,
    address: &str,
) -> Result<Bytes, ClientError> {
    fill(reader, buffer, 4, address).await?;
    let size = i32::from_be_bytes(buffer[..4].try_into().expect("four bytes"));
    let length = usize::try_from(size)
        .ok()
        .filter(|&length| length <= RESPONSE_BYTES_MAX)
        .ok_or_else(|| ClientError::FrameSize {
            address: address.to_string(),
            size: i64::from(size),
            max: RESPONSE_BYTES_MAX,
        })?;
    fill(reader, buffer, 4 + length, address).await?;
    buffer.advance(4);
    Ok(buffer.split_to(length).freeze())
}

/// Reads until `buffer` holds at least `wanted` bytes.
async fn fill(
    reader: &mut StreamReader,
    buffer: &mut BytesMut,
    wanted: usize,
    address: &str,
) -> Result<(), ClientError> {
    let io_error = |source| ClientError::Io {
        address: address.to_string(),
        source,
    };
    if buffer.len() < wanted {
        buffer.reserve((wanted - buffer.len()).max(READ_BUFFER_BYTES));
    }
    while buffer.len() < wanted {
        if reader.read_buf(buffer).await.map_err(io_error)? == 0 {
            return Err(io_error(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
