//! Stage 7: Prometheus exposition. Each long-running command serves `/metrics` (the
//! Prometheus way for processes that live long enough to be scraped) and can also push to a
//! Pushgateway for short runs.

pub(crate) mod window_metrics;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot serve metrics on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot serve metrics on {addr}: not an IP address")]
    NotIp { addr: String },
    #[error("push to Pushgateway {url} failed")]
    Push {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
}

/// A registry shared between the pipeline (which updates metrics) and the HTTP server.
pub type SharedRegistry = Arc<Mutex<Registry>>;

/// Renders the registry in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).expect("writing to a String cannot fail");
    out
}

/// HTTP server for `/metrics`; stops when dropped.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `addr` now (so a port in use is reported at start) and serves in a thread.
    pub fn start(addr: &str, registry: SharedRegistry) -> Result<MetricsServer, MetricsError> {
        let server = tiny_http::Server::http(addr).map_err(|source| MetricsError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
        let bound = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| MetricsError::NotIp {
                addr: addr.to_owned(),
            })?;
        let server = Arc::new(server);
        let srv = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                for request in srv.incoming_requests() {
                    let response = match request.url() {
                        "/metrics" => {
                            let body = render(&registry.lock().expect("metrics lock"));
                            let header = tiny_http::Header::from_bytes(
                                "Content-Type",
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                            .expect("static header");
                            tiny_http::Response::from_string(body).with_header(header)
                        }
                        "/" | "/-/healthy" => {
                            tiny_http::Response::from_string("tracepipe: metrics at /metrics\n")
                        }
                        _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
                    };
                    let _ = request.respond(response);
                }
            })
            .expect("spawning a thread");
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr: bound,
        })
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Pushes the whole registry to a Pushgateway group `job` with PUT. The registry holds every
/// machine ever seen, so replacing the group never erases a machine that was simply absent
/// from the last window (the first implementation pushed only the last window's machines and
/// so erased the others).
pub fn push(url: &str, job: &str, registry: &Registry) -> Result<(), MetricsError> {
    let body = render(registry);
    // The Pushgateway speaks the classic text format; drop the OpenMetrics `# EOF` line and
    // the `_created` samples it does not accept.
    let body: String = body
        .lines()
        .filter(|l| *l != "# EOF" && !l.contains("_created"))
        .map(|l| format!("{l}\n"))
        .collect();
    let target = format!("{}/metrics/job/{}", url.trim_end_matches('/'), job);
    ureq::put(&target)
        .set("Content-Type", "text/plain; version=0.0.4")
        .timeout(std::time::Duration::from_secs(10))
        .send_string(&body)
        .map(|_| ())
        .map_err(|e| MetricsError::Push {
            url: target.clone(),
            source: Box::new(e),
        })
}
