//! Outbound HTTP for the fetches guests ask for (ABI.md §12, "The network"): an allow list in the
//! manner of Deno's `--allow-net`, redirects followed by hand so that every hop is checked,
//! bounded time and size, and the failures turned into GoMode's synthetic 502 with the texts
//! ABI.md lists, which the V8 model gives too.
//!
//! The client is reqwest's blocking one: the host calls guests synchronously, and a fetch sits in
//! the middle of such a call, so a blocking client is the plain fit (ARCHITECTURE.md says why
//! reqwest). One client serves the process, built on the first fetch, so a host that never
//! fetches starts none.

use std::fmt;
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use url::Url;

use crate::fetch::{FetchRequest, FetchResult};
use crate::profile;

/// The most redirects one fetch follows, as Fetch does.
const MAX_REDIRECTS: u32 = 20;

/// How long connecting may take before the fetch cannot connect, within the fetch's time-out.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which hosts a fetch may reach, and how long and how large its answer may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetPolicy {
    /// The allowed hosts: `HOST` allows every port, `HOST:PORT` one (IPv6 in brackets).
    pub allow: Vec<String>,
    /// How long a fetch may take, from connecting to the last byte of the body, redirects included.
    pub timeout: Duration,
    /// The most bytes a response body may hold.
    pub max_body: u64,
}

impl Default for NetPolicy {
    /// No host allowed, 30 seconds, 16 MiB.
    fn default() -> Self {
        NetPolicy { allow: Vec::new(), timeout: Duration::from_secs(30), max_body: 16 << 20 }
    }
}

impl NetPolicy {
    /// Whether `url`'s host and port (explicit, or the scheme's default) are allowed.
    pub fn allows(&self, url: &Url) -> bool {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else { return false };
        self.allow.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            match entry.rsplit_once(':').filter(|(name, _)| !name.is_empty() && !entry.ends_with(']')) {
                Some((name, allowed)) => name == host && allowed.parse() == Ok(port),
                None => entry == host,
            }
        })
    }
}

/// The header lines as a Fetch `Headers` object sends them: names that differ only in case are
/// one header, whose values are joined with `, ` in order.
fn joined(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut joined: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        match joined.iter_mut().find(|(seen, _)| seen.eq_ignore_ascii_case(name)) {
            Some((_, values)) => {
                values.push_str(", ");
                values.push_str(value);
            }
            None => joined.push((name.clone(), value.clone())),
        }
    }
    joined
}

/// `host:port` of a URL, as the error texts name it.
fn authority(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or_default())
}

/// Makes HTTP fetches under a [`NetPolicy`].
pub struct Net {
    policy: NetPolicy,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Net").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// Why a fetch failed; its `Display` is the body of the synthetic 502.
#[derive(Debug)]
enum Failure {
    Denied(String),
    InvalidUrl(String),
    Scheme(String),
    Method(String),
    Connect(String),
    Timeout(u128),
    TooLarge(u64),
    Redirects,
    Broken,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Denied(host) => write!(
                f,
                "TypeError: fetch denied: {host} is not allowed; gomode-host allows outbound network only to hosts \
                 given with --allow-net HOST[:PORT]"
            ),
            Failure::InvalidUrl(url) => write!(f, "TypeError: Invalid URL: {url}"),
            Failure::Scheme(scheme) => write!(f, "TypeError: fetch failed: unsupported scheme {scheme}:"),
            Failure::Method(method) => write!(f, "TypeError: '{method}' HTTP method is unsupported."),
            Failure::Connect(host) => write!(f, "TypeError: fetch failed: cannot connect to {host}"),
            Failure::Timeout(ms) => write!(f, "TypeError: fetch failed: no complete answer within {ms} ms"),
            Failure::TooLarge(max) => write!(f, "TypeError: fetch failed: the response body is over {max} bytes"),
            Failure::Redirects => write!(f, "TypeError: fetch failed: redirect count exceeded"),
            Failure::Broken => write!(f, "TypeError: fetch failed: the connection broke before a complete response"),
        }
    }
}

impl Net {
    /// A client under `policy`.
    pub fn new(policy: NetPolicy) -> Net {
        Net { policy }
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &NetPolicy {
        &self.policy
    }

    /// Makes `request`, following redirects, and keeps what GoMode keeps of the answer; a
    /// failure is GoMode's synthetic 502 with the failure's text.
    pub fn fetch(&self, request: &FetchRequest) -> FetchResult {
        self.try_fetch(request).unwrap_or_else(|failure| FetchResult {
            status: 502,
            content_type: "text/plain".into(),
            body: failure.to_string(),
        })
    }

    fn try_fetch(&self, request: &FetchRequest) -> Result<FetchResult, Failure> {
        let mut url = Url::parse(&request.url).map_err(|_| Failure::InvalidUrl(request.url.clone()))?;
        let mut method = profile::fetch_method(&request.method).into_owned();
        if ["CONNECT", "TRACE", "TRACK"].iter().any(|forbidden| forbidden.eq_ignore_ascii_case(&method)) {
            return Err(Failure::Method(method));
        }
        let mut headers = request.headers.clone();
        let mut body =
            Some(request.body.clone()).filter(|body| !body.is_empty() && method != "GET" && method != "HEAD");
        let started = Instant::now();
        for _ in 0..=MAX_REDIRECTS {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(Failure::Scheme(url.scheme().to_owned()));
            }
            if !self.policy.allows(&url) {
                return Err(Failure::Denied(authority(&url)));
            }
            let left = self.policy.timeout.checked_sub(started.elapsed()).ok_or_else(|| self.timed_out())?;
            let client = self.client()?;
            let http_method =
                reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| Failure::Method(method.clone()))?;
            let mut builder = client.request(http_method, url.clone()).timeout(left);
            for (name, value) in joined(&headers) {
                builder = builder.header(name, value);
            }
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let response = builder.send().map_err(|err| self.failure(&err, &url, started))?;
            let status = response.status().as_u16();
            let location = response.headers().get(reqwest::header::LOCATION).cloned();
            if let (301 | 302 | 303 | 307 | 308, Some(location)) = (status, location) {
                let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
                url = url.join(&location).map_err(|_| Failure::InvalidUrl(location))?;
                if (status == 303 && method != "HEAD") || (matches!(status, 301 | 302) && method == "POST") {
                    method = "GET".into();
                    body = None;
                    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
                }
                continue;
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .map(|value| value.as_bytes().iter().map(|&b| char::from(b)).collect())
                .unwrap_or_default();
            let mut bytes = Vec::new();
            response.take(self.policy.max_body + 1).read_to_end(&mut bytes).map_err(|err| {
                match err.get_ref().and_then(|inner| inner.downcast_ref::<reqwest::Error>()) {
                    Some(err) => self.failure(err, &url, started),
                    None if err.kind() == std::io::ErrorKind::TimedOut => self.timed_out(),
                    None => Failure::Broken,
                }
            })?;
            if bytes.len() as u64 > self.policy.max_body {
                return Err(Failure::TooLarge(self.policy.max_body));
            }
            let text = String::from_utf8_lossy(&bytes);
            let body = text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned();
            return Ok(FetchResult { status: i32::from(status), content_type, body });
        }
        Err(Failure::Redirects)
    }

    /// The process's one client, built on the first fetch: every `Net` shares its connection
    /// pool, and the policy and the time-out are applied per request.
    fn client(&self) -> Result<&'static reqwest::blocking::Client, Failure> {
        static CLIENT: OnceLock<Result<reqwest::blocking::Client, String>> = OnceLock::new();
        let client = CLIENT.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                // undici, under Node's fetch, gives up connecting after 10 seconds; so does this.
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|err| err.to_string())
        });
        // A client that cannot be built (no TLS roots, say) fails every fetch alike.
        client.as_ref().map_err(|_| Failure::Broken)
    }

    fn timed_out(&self) -> Failure {
        Failure::Timeout(self.policy.timeout.as_millis())
    }

    /// What a client error means: the fetch's time-out when it has run out, else a failed
    /// connection or a broken one. `started` is when the fetch began.
    fn failure(&self, err: &reqwest::Error, url: &Url, started: Instant) -> Failure {
        if started.elapsed() >= self.policy.timeout {
            self.timed_out()
        } else if err.is_connect() {
            Failure::Connect(authority(url))
        } else if err.is_timeout() {
            self.timed_out()
        } else {
            Failure::Broken
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_matches_hosts_and_ports_as_deno_does() {
        let policy = NetPolicy {
            allow: vec!["example.com".into(), "127.0.0.1:8000".into(), "[::1]".into(), "[::1]:9".into()],
            ..NetPolicy::default()
        };
        let allows = |url: &str| policy.allows(&Url::parse(url).unwrap());
        assert!(allows("https://example.com/x"));
        assert!(allows("http://EXAMPLE.com:81/"));
        assert!(allows("http://127.0.0.1:8000/a.txt"));
        assert!(!allows("http://127.0.0.1/a.txt"));
        assert!(!allows("http://127.0.0.1:8001/"));
        assert!(!allows("http://sub.example.com/"));
        assert!(allows("http://[::1]:1234/"));
        assert!(!allows("file:///etc/passwd"));
    }

    #[test]
    fn refusals_happen_before_any_connection() {
        let net = Net::new(NetPolicy::default());
        let fetch = |method: &str, url: &str| {
            net.fetch(&FetchRequest {
                method: method.into(),
                url: url.into(),
                content_type: String::new(),
                headers: Vec::new(),
                body: String::new(),
                call_index: 0,
            })
        };
        let denied = fetch("GET", "http://127.0.0.1:8000/a.txt");
        assert_eq!((denied.status, denied.content_type.as_str()), (502, "text/plain"));
        assert!(denied.body.starts_with("TypeError: fetch denied: 127.0.0.1:8000 is not allowed;"), "{}", denied.body);
        assert!(denied.body.contains("--allow-net"));
        assert_eq!(fetch("GET", "not a url").body, "TypeError: Invalid URL: not a url");
        assert_eq!(fetch("GET", "ftp://a/").body, "TypeError: fetch failed: unsupported scheme ftp:");
        assert_eq!(fetch("trace", "http://a/").body, "TypeError: 'trace' HTTP method is unsupported.");
    }
}
