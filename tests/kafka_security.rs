//! tracepipe against a Kafka broker that only accepts SASL_SSL with SCRAM-SHA-512: the second
//! local broker of `scripts/kafka-sasl.sh` (127.0.0.1:9095, self-signed CA, random password for
//! user `tracepipe`). The tests start it themselves (`kafka-sasl.sh up` is idempotent and waits
//! until the broker answers), so `make test` needs nothing more than the plain stack.
//!
//!   cargo test --release --test kafka_security
//!
//! Every child process runs with a bounded deadline (polled, no fixed sleeps); the tracepipe
//! children get no TRACEPIPE_* / KAFKA_BOOTSTRAP variables from the caller's environment.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a failing connection (bad credentials, untrusted certificate) may take to be reported.
const FAIL_FAST: Duration = Duration::from_secs(15);
/// Generous bound for the successful commands on the small generated trace.
const WORK: Duration = Duration::from_secs(120);
/// `kafka-sasl.sh up`: certificates, format, JVM start (about 8 s; more on a cold machine).
const BROKER_UP: Duration = Duration::from_secs(300);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Running children with a deadline
// ---------------------------------------------------------------------------------------------

struct Run {
    what: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
    fn describe(&self) -> String {
        format!(
            "{} -> {} after {:.1?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.status, self.took, self.stdout, self.stderr
        )
    }
    fn assert_ok(&self) -> &Self {
        assert!(self.status.success(), "failed: {}", self.describe());
        self
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` to completion, killing it (and failing the test) if it takes longer than `limit`.
fn run(mut cmd: Command, what: &str, limit: Duration) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let status = child.wait().expect("wait for killed child");
            panic!(
                "{what} did not finish within {limit:?} (killed: {status})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    Run {
        what: what.to_owned(),
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        took,
    }
}

/// The tracepipe binary with a clean environment (no settings inherited from the caller).
fn tracepipe(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracepipe"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("TRACEPIPE_") || k == "KAFKA_BOOTSTRAP" || k == "RUST_LOG" {
            c.env_remove(&*k);
        }
    }
    c.args(args).current_dir(repo());
    c
}

fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

// ---------------------------------------------------------------------------------------------
// The SASL_SSL broker
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct SaslBroker {
    bootstrap: String,
    ca: PathBuf,
    user: String,
    password: String,
}

/// Starts (once per test process) the broker of scripts/kafka-sasl.sh and reads its `env`.
fn broker() -> &'static SaslBroker {
    static BROKER: OnceLock<Result<SaslBroker, String>> = OnceLock::new();
    let b = BROKER.get_or_init(|| {
        let script = repo().join("scripts/kafka-sasl.sh");
        let mut up = Command::new("bash");
        up.arg(&script).arg("up").current_dir(repo());
        let r = run(up, "bash scripts/kafka-sasl.sh up", BROKER_UP);
        if !r.status.success() {
            return Err(r.describe());
        }
        // Let bash itself evaluate the export lines; print the values NUL-separated.
        let mut env = Command::new("bash");
        env.arg("-c")
            .arg(
                r#"set -e; eval "$(bash "$0" env)"; printf '%s\0' "$KAFKA_SASL_BOOTSTRAP" "$KAFKA_SASL_CA" "$KAFKA_SASL_USER" "$KAFKA_SASL_PASSWORD""#,
            )
            .arg(&script)
            .current_dir(repo());
        let r = run(env, "bash scripts/kafka-sasl.sh env", Duration::from_secs(30));
        if !r.status.success() {
            return Err(r.describe());
        }
        let v: Vec<&str> = r.stdout.split('\0').collect();
        if v.len() != 5 || v[..4].iter().any(|s| s.is_empty()) {
            return Err(format!("unexpected output of kafka-sasl.sh env: {v:?}"));
        }
        Ok(SaslBroker {
            bootstrap: v[0].to_owned(),
            ca: PathBuf::from(v[1]),
            user: v[2].to_owned(),
            password: v[3].to_owned(),
        })
    });
    match b {
        Ok(b) => {
            assert!(b.ca.is_file(), "CA file {} missing", b.ca.display());
            b
        }
        Err(e) => panic!("the SASL_SSL broker is not available:\n{e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A small synthetic trace (about 2,300 events); returns its folder and event count.
fn small_trace(dir: &Path) -> u64 {
    let out = dir.join("trace");
    let r = run(
        tracepipe(&[
            "generate",
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            "50",
            "--parts",
            "2",
            "--duration",
            "30m",
        ]),
        "tracepipe generate",
        WORK,
    );
    r.assert_ok();
    // "generated 150 job rows and 2126 task rows (...)"
    let words: Vec<&str> = r.stdout.split_whitespace().collect();
    let num = |after: &str| -> u64 {
        let i = words
            .iter()
            .position(|w| *w == after)
            .unwrap_or_else(|| panic!("no '{after}' in: {}", r.stdout));
        words[i + 1].parse().unwrap()
    };
    let n = num("generated") + num("and");
    assert!(n > 1000, "{}", r.stdout);
    n
}

fn trace_args(dir: &Path) -> [String; 4] {
    let t = dir.join("trace");
    [
        "--jobs".into(),
        t.join("job_events").display().to_string(),
        "--tasks".into(),
        t.join("task_events").display().to_string(),
    ]
}

struct Topics {
    jobs: String,
    tasks: String,
}

impl Topics {
    fn new() -> Self {
        let r = random_hex();
        Topics {
            jobs: format!("sec-jobs-{r}"),
            tasks: format!("sec-tasks-{r}"),
        }
    }
    fn args(&self, bootstrap: &str) -> Vec<String> {
        vec![
            "--bootstrap".into(),
            bootstrap.into(),
            "--job-topic".into(),
            self.jobs.clone(),
            "--task-topic".into(),
            self.tasks.clone(),
        ]
    }
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `replay` of the small trace with the given security flags.
fn replay_args(dir: &Path, topics: &Topics, bootstrap: &str, security: &[String]) -> Vec<String> {
    let mut a = vec!["replay".to_string()];
    a.extend(trace_args(dir));
    a.extend(topics.args(bootstrap));
    a.extend(["--progress".into(), "quiet".into()]);
    a.extend_from_slice(security);
    a
}

fn security_flags(user: &str, password: &str, ca: Option<&Path>) -> Vec<String> {
    let mut v: Vec<String> = [
        "--security-protocol",
        "SASL_SSL",
        "--sasl-mechanism",
        "SCRAM-SHA-512",
        "--sasl-username",
        user,
        "--sasl-password",
        password,
    ]
    .map(String::from)
    .to_vec();
    if let Some(ca) = ca {
        v.extend(["--ssl-ca-location".into(), ca.display().to_string()]);
    }
    v
}

fn assert_fails_fast(r: &Run) {
    assert!(!r.status.success(), "expected a failure: {}", r.describe());
    assert!(
        r.status.code().is_some(),
        "expected an exit code, not a signal: {}",
        r.describe()
    );
    assert!(
        r.took < FAIL_FAST,
        "took {:.1?} (limit {FAIL_FAST:?}): {}",
        r.took,
        r.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// replay (flags) -> verify (environment variables) -> consume (flags), all over SASL_SSL.
#[test]
fn replay_verify_consume_over_sasl_ssl_scram() {
    let b = broker();
    let dir = tempfile::tempdir().unwrap();
    let events = small_trace(dir.path());
    let topics = Topics::new();
    let security = security_flags(&b.user, &b.password, Some(&b.ca));

    // replay, security from flags
    let r = run(
        tracepipe(&refs(&replay_args(
            dir.path(),
            &topics,
            &b.bootstrap,
            &security,
        ))),
        "tracepipe replay (SASL_SSL)",
        WORK,
    );
    r.assert_ok();
    assert!(
        r.stdout.contains(&format!("replayed {events} events")),
        "{}",
        r.describe()
    );
    assert!(
        !r.both().contains(&b.password),
        "password printed: {}",
        r.describe()
    );

    // verify, security from the environment (the documented way to pass the password)
    let mut a = vec!["verify".to_string()];
    a.extend(trace_args(dir.path()));
    a.extend(topics.args(&b.bootstrap));
    let mut cmd = tracepipe(&refs(&a));
    cmd.env("TRACEPIPE_SECURITY_PROTOCOL", "SASL_SSL")
        .env("TRACEPIPE_SASL_MECHANISM", "SCRAM-SHA-512")
        .env("TRACEPIPE_SASL_USERNAME", &b.user)
        .env("TRACEPIPE_SASL_PASSWORD", &b.password)
        .env("TRACEPIPE_SSL_CA_LOCATION", &b.ca);
    let r = run(cmd, "tracepipe verify (SASL_SSL, env)", WORK);
    r.assert_ok();
    assert!(
        r.stdout
            .contains(&format!("OK: {events} events in exact global order")),
        "{}",
        r.describe()
    );
    assert!(
        !r.both().contains(&b.password),
        "password printed: {}",
        r.describe()
    );

    // consume, security from flags
    let out = dir.path().join("consumed.jsonl");
    let mut a = vec!["consume".to_string()];
    a.extend(topics.args(&b.bootstrap));
    a.extend(["--out".into(), out.display().to_string()]);
    a.extend(security.iter().cloned());
    let r = run(tracepipe(&refs(&a)), "tracepipe consume (SASL_SSL)", WORK);
    r.assert_ok();
    assert!(
        !r.both().contains(&b.password),
        "password printed: {}",
        r.describe()
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = 0u64;
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        lines += 1;
    }
    assert_eq!(lines, events, "consumed lines = replayed events");
}

/// A wrong password (and an unknown user) is refused quickly, says so, and is never echoed.
#[test]
fn wrong_scram_credentials_fail_fast_with_a_clear_error() {
    let b = broker();
    let dir = tempfile::tempdir().unwrap();
    small_trace(dir.path());
    let wrong = format!("wrong-{}", random_hex());
    let unknown_user = format!("nobody-{}", random_hex());
    for (user, what) in [
        (b.user.as_str(), "wrong password"),
        (unknown_user.as_str(), "unknown user"),
    ] {
        let topics = Topics::new();
        let security = security_flags(user, &wrong, Some(&b.ca));
        let r = run(
            tracepipe(&refs(&replay_args(
                dir.path(),
                &topics,
                &b.bootstrap,
                &security,
            ))),
            &format!("tracepipe replay ({what})"),
            FAIL_FAST + Duration::from_secs(15),
        );
        eprintln!(
            "{what}: {:.1?}, exit {}: {}",
            r.took,
            r.status,
            r.stderr.trim()
        );
        assert_fails_fast(&r);
        assert!(
            !r.both().contains(&wrong),
            "the password was printed: {}",
            r.describe()
        );
        assert!(
            !r.both().contains(&b.password),
            "the real password was printed: {}",
            r.describe()
        );
        assert!(
            r.stderr.to_lowercase().contains("authentication"),
            "{what}: the error does not mention authentication: {}",
            r.describe()
        );
    }
}

/// SASL_SSL without --ssl-ca-location: the self-signed broker certificate is not trusted.
#[test]
fn sasl_ssl_without_the_ca_fails_fast_with_a_certificate_error() {
    let b = broker();
    let dir = tempfile::tempdir().unwrap();
    small_trace(dir.path());
    let topics = Topics::new();
    let security = security_flags(&b.user, &b.password, None);
    let r = run(
        tracepipe(&refs(&replay_args(
            dir.path(),
            &topics,
            &b.bootstrap,
            &security,
        ))),
        "tracepipe replay (no CA)",
        FAIL_FAST + Duration::from_secs(15),
    );
    eprintln!(
        "no CA: {:.1?}, exit {}: {}",
        r.took,
        r.status,
        r.stderr.trim()
    );
    assert_fails_fast(&r);
    assert!(
        !r.both().contains(&b.password),
        "password printed: {}",
        r.describe()
    );
    assert!(
        r.stderr.to_lowercase().contains("certificate"),
        "the error does not mention the certificate: {}",
        r.describe()
    );
}

/// The SASL_SSL port does not serve a client that speaks plain Kafka.
#[test]
fn plaintext_client_is_refused() {
    let b = broker();
    let dir = tempfile::tempdir().unwrap();
    small_trace(dir.path());
    let topics = Topics::new();
    let r = run(
        tracepipe(&refs(&replay_args(dir.path(), &topics, &b.bootstrap, &[]))),
        "tracepipe replay (PLAINTEXT to the SASL_SSL port)",
        FAIL_FAST + Duration::from_secs(15),
    );
    eprintln!(
        "plaintext: {:.1?}, exit {}: {}",
        r.took,
        r.status,
        r.stderr.trim()
    );
    assert_fails_fast(&r);
    assert!(
        r.stderr.contains("cannot reach Kafka at"),
        "{}",
        r.describe()
    );
}
