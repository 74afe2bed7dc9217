//! One HTTP client for everything fetched: timeouts, retries with backoff, Range requests.

use super::hash::GoogHash;
use super::FetchError;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How transient failures (connection errors, timeouts, 408, 429, 5xx) are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts after the first one.
    pub retries: u32,
    /// First backoff; doubled after each failure up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            retries: 8,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl Retry {
    /// The defaults, overridden by `TRACEPIPE_HTTP_RETRIES` and `TRACEPIPE_HTTP_BACKOFF_MS`.
    pub fn from_env() -> Retry {
        let mut r = Retry::default();
        if let Some(n) = env_u64("TRACEPIPE_HTTP_RETRIES") {
            r.retries = n.min(1000) as u32;
        }
        if let Some(ms) = env_u64("TRACEPIPE_HTTP_BACKOFF_MS") {
            r.backoff = Duration::from_millis(ms);
        }
        r
    }

    /// The pause before retry number `failures` (1-based), or the server's Retry-After.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_backoff);
        }
        let exp = self
            .backoff
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let d = exp.min(self.max_backoff);
        // Up to a quarter more, so parallel transfers that failed together do not retry together.
        d + d.mul_f64(rand::random::<f64>() * 0.25)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The outcome of one failed attempt.
pub(crate) enum Failure {
    /// Worth another attempt: what happened, and how long the server asked us to wait.
    Transient(String, Option<Duration>),
    Fatal(FetchError),
}

/// A response body and where it starts in the object.
pub(crate) struct Opened {
    pub body: Box<dyn Read + Send + Sync + 'static>,
    /// Offset of the body's first byte (0 when the server ignored the Range).
    pub start: u64,
    /// Size of the whole object, when the server said.
    pub total: Option<u64>,
    pub goog: GoogHash,
}

/// An HTTP(S) client (rustls, no OpenSSL) with the retry policy. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub retry: Retry,
}

impl Default for Client {
    fn default() -> Self {
        Client::new(Retry::from_env())
    }
}

impl Client {
    pub fn new(retry: Retry) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(60))
            .user_agent(concat!("tracepipe/", env!("CARGO_PKG_VERSION")))
            .build();
        Client { agent, retry }
    }

    /// Runs `attempt` until it succeeds, fails fatally or the retries are used up. `stop`
    /// (Ctrl-C) ends the waiting between attempts.
    pub(crate) fn retrying<T>(
        &self,
        url: &str,
        stop: Option<&AtomicBool>,
        mut attempt: impl FnMut() -> Result<T, Failure>,
    ) -> Result<T, FetchError> {
        let mut failures = 0;
        loop {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err(FetchError::Interrupted);
            }
            match attempt() {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(last, retry_after)) => {
                    failures += 1;
                    if failures > self.retry.retries {
                        return Err(FetchError::GaveUp {
                            url: url.to_owned(),
                            attempts: failures,
                            last,
                        });
                    }
                    let delay = self.retry.delay(failures, retry_after);
                    log::info!(
                        "{url}: {last}; retry {failures}/{} in {delay:.1?}",
                        self.retry.retries
                    );
                    pause(delay, stop);
                }
            }
        }
    }

    /// A small text file (`SHA256SUM`), whole, with retries.
    pub fn get_text(&self, url: &str) -> Result<String, FetchError> {
        self.retrying(url, None, || {
            let resp = self.agent.get(url).call().map_err(|e| classify(url, e))?;
            let mut s = String::new();
            resp.into_reader()
                .take(256 << 20)
                .read_to_string(&mut s)
                .map_err(|e| Failure::Transient(format!("reading the body: {e}"), None))?;
            Ok(s)
        })
    }

    /// One GET from byte `offset` (a Range request when > 0), no retries.
    pub(crate) fn open(&self, url: &str, offset: u64) -> Result<Opened, Failure> {
        let mut req = self.agent.get(url);
        if offset > 0 {
            req = req.set("Range", &format!("bytes={offset}-"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            // Asked from the end of the object: nothing left to read.
            Err(ureq::Error::Status(416, r)) if offset > 0 => {
                let total = r.header("Content-Range").and_then(|v| content_range(v).2);
                if total == Some(offset) {
                    return Ok(Opened {
                        body: Box::new(std::io::empty()),
                        start: offset,
                        total,
                        goog: GoogHash::parse(r.all("x-goog-hash")),
                    });
                }
                // The object is shorter than what we hold: start over.
                return self.open(url, 0);
            }
            Err(e) => return Err(classify(url, e)),
        };
        let goog = GoogHash::parse(resp.all("x-goog-hash"));
        let length: Option<u64> = resp
            .header("Content-Length")
            .and_then(|v| v.trim().parse().ok());
        let (start, total) = if resp.status() == 206 {
            let (start, _, total) = resp
                .header("Content-Range")
                .map(content_range)
                .unwrap_or((None, None, None));
            match start {
                Some(s) if s == offset => (s, total),
                other => {
                    return Err(Failure::Fatal(FetchError::Protocol {
                        url: url.to_owned(),
                        problem: format!(
                            "asked for bytes from {offset}, got a partial response starting at {}",
                            other.map_or("an unknown offset".to_owned(), |s| s.to_string())
                        ),
                    }))
                }
            }
        } else {
            (0, length)
        };
        Ok(Opened {
            body: resp.into_reader(),
            start,
            total,
            goog,
        })
    }
}

/// Sleeps `d`, waking early when `stop` is set.
fn pause(d: Duration, stop: Option<&AtomicBool>) {
    let end = std::time::Instant::now() + d;
    loop {
        let now = std::time::Instant::now();
        if now >= end || stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// `bytes 100-999/1000` → (100, 999, 1000); `bytes */1000` → (None, None, 1000).
fn content_range(v: &str) -> (Option<u64>, Option<u64>, Option<u64>) {
    let Some(rest) = v.trim().strip_prefix("bytes ") else {
        return (None, None, None);
    };
    let (range, total) = rest.split_once('/').unwrap_or((rest, "*"));
    let total = total.trim().parse().ok();
    match range.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok(), b.trim().parse().ok(), total),
        None => (None, None, total),
    }
}

fn classify(url: &str, e: ureq::Error) -> Failure {
    match e {
        ureq::Error::Status(status, resp) => {
            if matches!(status, 408 | 429 | 500..=599) {
                let retry_after = resp
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse().ok())
                    .map(Duration::from_secs);
                Failure::Transient(format!("HTTP {status}"), retry_after)
            } else {
                Failure::Fatal(FetchError::Status {
                    url: url.to_owned(),
                    status,
                })
            }
        }
        ureq::Error::Transport(t) => {
            use ureq::ErrorKind::*;
            match t.kind() {
                InvalidUrl | UnknownScheme | InvalidProxyUrl | InsecureRequestHttpsOnly => {
                    Failure::Fatal(FetchError::Protocol {
                        url: url.to_owned(),
                        problem: t.to_string(),
                    })
                }
                _ => Failure::Transient(transport_message(&t), None),
            }
        }
    }
}

/// ureq's message repeats the URL; keep the kind and the cause.
fn transport_message(t: &ureq::Transport) -> String {
    let mut s = t.kind().to_string();
    if let Some(m) = t.message() {
        s.push_str(": ");
        s.push_str(m);
    }
    if let Some(src) = std::error::Error::source(t) {
        s.push_str(": ");
        s.push_str(&src.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(
            content_range("bytes 100-999/1000"),
            (Some(100), Some(999), Some(1000))
        );
        assert_eq!(content_range("bytes */1000"), (None, None, Some(1000)));
        assert_eq!(content_range("bytes 0-9/*"), (Some(0), Some(9), None));
        assert_eq!(content_range("items 1-2/3"), (None, None, None));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let r = Retry {
            retries: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        let d1 = r.delay(1, None);
        assert!(
            d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(125),
            "{d1:?}"
        );
        let d3 = r.delay(3, None);
        assert!(
            d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(500),
            "{d3:?}"
        );
        assert!(r.delay(30, None) <= Duration::from_millis(1250));
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(60))),
            Duration::from_millis(1000)
        );
    }
}
