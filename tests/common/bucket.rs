//! A real HTTP/1.1 server on 127.0.0.1 that serves files in the layout of the trace's public
//! bucket (`SHA256SUM` at the root, `<table>/part-…` below it), with Range requests,
//! GCS-style `x-goog-hash` headers, and faults a test can arm: a transfer cut after N
//! bytes, statuses (404, 500), corrupted bodies, pacing. It records every request.

use base64::Engine;
use md5::Digest as _;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Faults for one path, consumed as requests arrive.
#[derive(Debug, Default, Clone)]
pub struct Fault {
    /// Statuses answered (with an empty body) to the next requests, one per request.
    pub statuses: VecDeque<u16>,
    /// Answer every request with this status.
    pub always: Option<u16>,
    /// Send the headers of the whole response, then only this many body bytes, then close.
    /// Applies once.
    pub cut_after: Option<usize>,
    /// Serve these bytes instead of the file (its SHA256SUM line stays the original's).
    pub body: Option<Vec<u8>>,
    /// Send this x-goog-hash crc32c (base64) instead of the right one.
    pub crc32c: Option<String>,
}

impl Fault {
    /// The next transfer of the path breaks off after `bytes` body bytes.
    pub fn cut_after(bytes: usize) -> Fault {
        Fault {
            cut_after: Some(bytes),
            ..Fault::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    /// Start of the `Range: bytes=N-` header, if any.
    pub range_from: Option<u64>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    files: BTreeMap<String, Vec<u8>>,
    faults: HashMap<String, Fault>,
    requests: Vec<Request>,
    body_bytes_sent: u64,
    active: usize,
    max_active: usize,
    /// Body bytes per second per response (0: as fast as possible).
    pace: u64,
    goog_hash: bool,
}

pub struct Bucket {
    pub base_url: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Bucket {
    /// Serves the folders `tables` of `root` (e.g. `sample/`), each `*.csv.gz` under
    /// `<table>/`, and a `SHA256SUM` of them in `sha256sum --binary` format.
    pub fn serve(root: &Path, tables: &[&str]) -> Bucket {
        let mut files = BTreeMap::new();
        for t in tables {
            let mut names: Vec<_> = std::fs::read_dir(root.join(t))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".csv.gz"))
                .collect();
            names.sort();
            for n in names {
                files.insert(
                    format!("{t}/{n}"),
                    std::fs::read(root.join(t).join(&n)).unwrap(),
                );
            }
        }
        let mut sums = String::new();
        for (path, bytes) in &files {
            let d = sha2::Sha256::digest(bytes);
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            sums.push_str(&format!("{hex} *{path}\n"));
        }
        files.insert("SHA256SUM".into(), sums.into_bytes());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}/", listener.local_addr().unwrap());
        let state = Arc::new((
            Mutex::new(State {
                files,
                goog_hash: true,
                ..State::default()
            }),
            Condvar::new(),
        ));
        let st = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = Arc::clone(&st);
                std::thread::spawn(move || {
                    let _ = handle(conn, &st);
                });
            }
        });
        Bucket { base_url, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn file(&self, path: &str) -> Vec<u8> {
        self.state.0.lock().unwrap().files[path].clone()
    }

    /// The part paths served (everything but SHA256SUM).
    pub fn parts(&self) -> Vec<String> {
        let st = self.state.0.lock().unwrap();
        st.files
            .keys()
            .filter(|k| *k != "SHA256SUM")
            .cloned()
            .collect()
    }

    pub fn fault(&self, path: &str, f: Fault) {
        self.state.0.lock().unwrap().faults.insert(path.into(), f);
    }

    pub fn remove(&self, path: &str) {
        self.state.0.lock().unwrap().files.remove(path);
    }

    pub fn pace(&self, bytes_per_second: u64) {
        self.state.0.lock().unwrap().pace = bytes_per_second;
    }

    pub fn goog_hash(&self, on: bool) {
        self.state.0.lock().unwrap().goog_hash = on;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.0.lock().unwrap().requests.clone()
    }

    pub fn max_concurrent(&self) -> usize {
        self.state.0.lock().unwrap().max_active
    }

    /// Blocks until at least `n` body bytes were sent in all (or the timeout passes).
    pub fn wait_body_bytes(&self, n: u64, timeout: Duration) -> bool {
        let (lock, cv) = &*self.state;
        let st = lock.lock().unwrap();
        let (st, _) = cv
            .wait_timeout_while(st, timeout, |s| s.body_bytes_sent < n)
            .unwrap();
        st.body_bytes_sent >= n
    }
}

fn handle(conn: TcpStream, state: &Arc<(Mutex<State>, Condvar)>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (_method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.trim_start_matches('/').to_owned();
    let mut range_from = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range_from = v
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|r| r.trim_end_matches('-').parse::<u64>().ok());
            }
        }
    }
    let (lock, cv) = &**state;
    let mut st = lock.lock().unwrap();
    let fault = st.faults.get_mut(&path);
    let mut status = 200;
    let mut cut = None;
    let mut body_override = None;
    let mut crc_override = None;
    if let Some(f) = fault {
        if let Some(s) = f.always.or_else(|| f.statuses.pop_front()) {
            status = s;
        }
        cut = f.cut_after.take();
        body_override = f.body.clone();
        crc_override = f.crc32c.clone();
    }
    let file = st.files.get(&path).cloned();
    if file.is_none() && status == 200 {
        status = 404;
    }
    let mut out = conn;
    if status != 200 {
        st.requests.push(Request {
            path,
            range_from,
            status,
        });
        drop(st);
        write!(
            out,
            "HTTP/1.1 {status} Fault\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    }
    let body = body_override.unwrap_or_else(|| file.clone().unwrap());
    let mut headers = String::new();
    if st.goog_hash && path != "SHA256SUM" {
        // GCS sends the whole object's hashes, also on a partial response.
        let b64 = base64::engine::general_purpose::STANDARD;
        let crc = crc_override.unwrap_or_else(|| b64.encode(crc32c::crc32c(&body).to_be_bytes()));
        headers.push_str(&format!("x-goog-hash: crc32c={crc}\r\n"));
        headers.push_str(&format!(
            "x-goog-hash: md5={}\r\n",
            b64.encode(md5::Md5::digest(&body))
        ));
    }
    let len = body.len() as u64;
    let (status, start) = match range_from {
        Some(from) if from >= len => {
            st.requests.push(Request {
                path,
                range_from,
                status: 416,
            });
            drop(st);
            write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        Some(from) => (206, from),
        None => (200, 0),
    };
    let counted = path != "SHA256SUM";
    st.requests.push(Request {
        path,
        range_from,
        status,
    });
    if counted {
        st.active += 1;
        st.max_active = st.max_active.max(st.active);
    }
    let pace = st.pace;
    drop(st);
    let slice = &body[start as usize..];
    let mut head = format!(
        "HTTP/1.1 {status} OK\r\nContent-Length: {}\r\n{headers}Connection: close\r\n",
        slice.len()
    );
    if status == 206 {
        head.push_str(&format!(
            "Content-Range: bytes {start}-{}/{len}\r\n",
            len - 1
        ));
    }
    head.push_str("\r\n");
    let result = (|| {
        out.write_all(head.as_bytes())?;
        let limit = cut.unwrap_or(usize::MAX).min(slice.len());
        let chunk = if pace > 0 {
            (pace / 20).max(1) as usize
        } else {
            1 << 16
        };
        for c in slice[..limit].chunks(chunk) {
            out.write_all(c)?;
            {
                let mut st = lock.lock().unwrap();
                st.body_bytes_sent += c.len() as u64;
                cv.notify_all();
            }
            if pace > 0 {
                // Pacing the server's side of a transfer (not synchronising the test).
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        out.flush()?;
        if cut.is_some() {
            // Cut the transfer: reset the connection before the promised length.
            out.shutdown(std::net::Shutdown::Both)?;
        }
        Ok(())
    })();
    if counted {
        lock.lock().unwrap().active -= 1;
    }
    result
}
