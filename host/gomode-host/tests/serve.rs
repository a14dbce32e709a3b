//! `gomode-host serve` under load, as a user runs it: the binary on an ephemeral port, real TCP
//! connections with keep-alive, and the reference guests. Each test is bounded in time.
//!
//! The client is a few lines of HTTP/1.1 over `std::net`, enough for the fixed requests sent here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A built reference guest, looked up (and built) once for all tests.
fn guest(name: &str) -> PathBuf {
    static MANIFEST: OnceLock<conformance::Manifest> = OnceLock::new();
    let manifest = MANIFEST.get_or_init(|| conformance::manifest().expect("the guest manifest"));
    let built = manifest.guests.iter().find(|g| g.name == name).unwrap_or_else(|| panic!("{name} is built"));
    conformance::guests_dir().join(&built.path)
}

/// A running `gomode-host serve`, stopped with SIGINT when dropped.
struct Server {
    child: Child,
    address: String,
    log: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// Serves the built guest `name`, or the module at that path when it names a file.
    fn start(name: &str, args: &[&str]) -> Server {
        let guest = if std::path::Path::new(name).is_file() { PathBuf::from(name) } else { self::guest(name) };
        let mut child = Command::new(env!("CARGO_BIN_EXE_gomode-host"))
            .args(["serve", guest.to_str().unwrap(), "--listen", "127.0.0.1:0", "--quiet"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gomode-host starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let address = line.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next());
        let address = address.unwrap_or_else(|| panic!("no URL in {line:?}")).to_owned();
        let mut stderr = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Server { child, address, log: Some(log) }
    }

    /// Sends SIGINT, waits for the exit, and returns the exit code and the log.
    fn stop(mut self) -> (Option<i32>, String) {
        interrupt(&self.child);
        let status = self.child.wait().unwrap();
        (status.code(), self.log.take().unwrap().join().unwrap())
    }

    /// The server's resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.log.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn interrupt(child: &Child) {
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
}

/// One keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(address: &str) -> Client {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { reader: BufReader::new(stream) }
    }

    /// Sends `GET path` and returns the status and body.
    fn get(&mut self, path: &str) -> std::io::Result<(u16, String)> {
        write!(self.reader.get_mut(), "GET {path} HTTP/1.1\r\nhost: test\r\n\r\n")?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut len = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            if line.trim_end().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                len = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

#[test]
fn serves_the_reference_app_and_the_durable_object() {
    let server = Server::start("rust-conservative", &[]);
    let mut client = Client::connect(&server.address);
    let (status, body) = client.get("/json").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("Hello from GoMode!"), "{body}");
    assert_eq!(client.get("/do/counter").unwrap(), (200, "1".into()));
    assert_eq!(client.get("/do/counter").unwrap(), (200, "2".into()));
    // A trap answers GoMode's 500 and the server goes on.
    assert_eq!(client.get("/panic").unwrap().0, 500);
    assert_eq!(client.get("/").unwrap(), (200, "Hello from GoMode!".into()));
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("[call.trap]"), "{log}");
}

/// 100,000 requests over 64 connections: no errors, and memory levels off on a collecting guest.
#[test]
fn a_conservative_guest_takes_a_hundred_thousand_requests() {
    for name in ["rust-conservative", "go-conservative"] {
        let started = Instant::now();
        let server = Server::start(name, &[]);
        let run = |requests_per_connection: usize| {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..64)
                    .map(|_| {
                        scope.spawn(|| {
                            let mut client = Client::connect(&server.address);
                            let mut errors = 0;
                            for i in 0..requests_per_connection {
                                let path = if i % 2 == 0 { "/" } else { "/json" };
                                match client.get(path) {
                                    Ok((200, _)) => {}
                                    _ => errors += 1,
                                }
                            }
                            errors
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
            })
        };
        let errors = run(320);
        let warm = server.rss_kib();
        let errors = errors + run(1_250);
        let after = server.rss_kib();
        let (code, log) = server.stop();
        assert_eq!(errors, 0, "{name}: {errors} requests failed\n{log}");
        assert_eq!(code, Some(0), "{log}");
        assert!(
            after < warm + 32 * 1024,
            "{name}: resident memory grew from {warm} KiB to {after} KiB over 80,000 more requests"
        );
        eprintln!("{name}: 100,480 requests in {:.1?}, resident memory {warm} KiB then {after} KiB", started.elapsed());
    }
}

/// A leaking guest reaches GoMode's 128 MiB: its instance is replaced, the client sees at most one
/// 500 per replacement, and nothing hangs.
#[test]
fn a_leaking_guest_is_replaced_at_the_memory_limit() {
    let server = Server::start("rust-leaking", &["--instances", "1"]);
    let mut client = Client::connect(&server.address);
    let mut failures = 0;
    for _ in 0..300 {
        let (status, _) = client.get("/bytes/1048576").unwrap();
        if status != 200 {
            assert_eq!(status, 500);
            failures += 1;
        }
    }
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    let replacements = log.matches("is replaced").count();
    assert!(replacements >= 1, "no instance was replaced in 300 MiB of leaks:\n{log}");
    assert!(failures <= replacements, "{failures} failures for {replacements} replacements:\n{log}");
    assert!(log.contains("rule `call.memory`"), "{log}");
}

/// `--watch` swaps in a rewritten module while a client keeps sending: no request fails, and
/// the answers soon come from the new module (whose `/counter` starts again at 1).
#[test]
fn watch_reloads_without_dropping_requests() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("app.wasm");
    std::fs::copy(guest("rust-conservative"), &module).unwrap();
    let server = Server::start(module.to_str().unwrap(), &["--watch", "--instances", "1"]);
    let mut client = Client::connect(&server.address);
    let (mut errors, mut last, mut reloaded) = (0, 0u64, false);
    let started = Instant::now();
    for i in 0.. {
        if i == 100 {
            // Written beside and renamed, as a build tool saves a file.
            let next = dir.path().join("app.wasm.new");
            std::fs::copy(guest("go-conservative"), &next).unwrap();
            std::fs::rename(&next, &module).unwrap();
        }
        match client.get("/counter") {
            Ok((200, body)) => {
                let count: u64 = body.parse().unwrap();
                if count < last {
                    reloaded = true;
                    break;
                }
                last = count;
            }
            _ => errors += 1,
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let (code, log) = server.stop();
    assert!(reloaded, "the module was not reloaded within 60 s:\n{log}");
    assert_eq!(errors, 0, "{log}");
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("reloaded"), "{log}");
}
