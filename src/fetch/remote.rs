//! One part streamed over HTTP as a `Read`: resumes at its byte offset when the connection
//! drops, and checks the whole object's hash when it ends, so the reader never sees the
//! end of a part whose bytes were not the listed ones.

use super::client::Client;
use super::hash::{GoogHash, Hashes};
use super::sums::Sha256;
use super::FetchError;
use std::io::{self, Read};

/// A part at a URL with the digest `SHA256SUM` lists for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePart {
    pub url: String,
    pub sha256: Sha256,
}

impl RemotePart {
    /// Streams the part from byte 0.
    pub fn reader(&self, client: &Client) -> RemoteReader {
        self.reader_from(client, 0, None)
    }

    /// Streams from `offset`; `prefix` holds the digests of the bytes before it (a resumed
    /// download's partial file). Connects on the first read.
    pub fn reader_from(
        &self,
        client: &Client,
        offset: u64,
        prefix: Option<Hashes>,
    ) -> RemoteReader {
        RemoteReader {
            client: client.clone(),
            part: self.clone(),
            offset,
            skip: 0,
            total: None,
            body: None,
            hashes: prefix,
            goog: None,
            done: false,
            reconnects: 0,
        }
    }
}

/// See [`RemotePart::reader`]. A hash mismatch or a transfer that cannot be resumed is an
/// `io::Error` whose inner error is a [`FetchError`].
pub struct RemoteReader {
    client: Client,
    part: RemotePart,
    /// Bytes of the object handed on (and hashed) so far.
    offset: u64,
    /// Bytes to drop from the current body: the server ignored our Range and started at 0.
    skip: u64,
    total: Option<u64>,
    body: Option<Box<dyn Read + Send + Sync>>,
    hashes: Option<Hashes>,
    goog: Option<GoogHash>,
    done: bool,
    reconnects: u32,
}

impl RemoteReader {
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of the object, once the server said.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Times the transfer was resumed after a failure.
    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    fn connect(&mut self) -> Result<(), FetchError> {
        let (client, url, offset) = (&self.client, &self.part.url, self.offset);
        let opened = client.retrying(url, None, || client.open(url, offset))?;
        if self.goog.is_none() {
            self.goog = Some(opened.goog.clone());
        }
        if self.hashes.is_none() {
            self.hashes = Some(Hashes::with_goog(&opened.goog));
        }
        self.skip = offset - opened.start.min(offset);
        if opened.total.is_some() {
            self.total = opened.total;
        }
        self.body = Some(opened.body);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.done = true;
        let hashes = self.hashes.take().unwrap_or_default();
        let goog = self.goog.take().unwrap_or_default();
        hashes
            .check(&self.part.sha256, &goog)
            .map_err(|(algorithm, expected, actual)| {
                FetchError::HashMismatch {
                    file: self.part.url.clone(),
                    algorithm,
                    expected,
                    actual,
                    removed: false,
                }
                .into_io()
            })
    }
}

impl Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        // Consecutive failures without a byte of progress.
        let mut failures = 0u32;
        let mut last_error = String::new();
        loop {
            if self.body.is_none() {
                if failures > self.client.retry.retries {
                    return Err(FetchError::GaveUp {
                        url: self.part.url.clone(),
                        attempts: failures,
                        last: last_error,
                    }
                    .into_io());
                }
                if failures > 0 {
                    self.reconnects += 1;
                    log::info!(
                        "{}: {last_error}; resuming at byte {} (retry {failures}/{})",
                        self.part.url,
                        self.offset,
                        self.client.retry.retries
                    );
                    std::thread::sleep(self.client.retry.delay(failures, None));
                }
                self.connect().map_err(FetchError::into_io)?;
            }
            let body = self.body.as_mut().expect("connected above");
            match body.read(buf) {
                Ok(0) => {
                    self.body = None;
                    match self.total {
                        Some(t) if self.offset < t => {
                            failures += 1;
                            last_error =
                                format!("connection closed at byte {} of {t}", self.offset);
                            continue;
                        }
                        _ => {}
                    }
                    self.finish()?;
                    return Ok(0);
                }
                Ok(n) => {
                    let drop = self.skip.min(n as u64) as usize;
                    self.skip -= drop as u64;
                    let fresh = &buf[drop..n];
                    if fresh.is_empty() {
                        continue;
                    }
                    if let Some(h) = &mut self.hashes {
                        h.update(fresh);
                    }
                    self.offset += fresh.len() as u64;
                    if drop > 0 {
                        buf.copy_within(drop..n, 0);
                    }
                    return Ok(n - drop);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.body = None;
                    failures += 1;
                    last_error = format!("transfer broke off at byte {}: {e}", self.offset);
                }
            }
        }
    }
}
