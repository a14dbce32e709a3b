//! The two contracts a guest is judged by: the portable ABI (`abi`) and GoMode's Worker as
//! deployed (`gomode`), with the facts about GoMode's glue that the runtime needs.
//!
//! `conformance/ABI.md` §11 describes every difference; this file holds the constants and the
//! request normalization, so that the runtime (`instance.rs`, `request.rs`, `response.rs`) asks a
//! [`Profile`] instead of spreading GoMode's quirks around.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which host a guest runs under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The portable ABI version 1 (ABI.md §1–10).
    Abi,
    /// GoMode's Worker glue at commit `d4b7f8f` (ABI.md §11): what users deploy to.
    #[default]
    Gomode,
}

impl Profile {
    /// Both profiles, `abi` first.
    pub const ALL: [Profile; 2] = [Profile::Abi, Profile::Gomode];

    /// The profile's name on the command line, in case files and in test names.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Abi => "abi",
            Profile::Gomode => "gomode",
        }
    }

    /// The memory limit a host has under this profile unless told otherwise: 1 GiB for `abi`,
    /// and for `gomode` the 128 MiB of a Workers isolate.
    pub fn default_memory_limit(self) -> usize {
        match self {
            Profile::Abi => 1 << 30,
            Profile::Gomode => 128 << 20,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(name: &str) -> Result<Profile, String> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown profile `{name}`; expected `abi` or `gomode`"))
    }
}

/// The size of GoMode's request scratch: `malloc(10*16 + 8192)`, once, never grown.
pub const GOMODE_SCRATCH: u32 = 10 * 16 + 8192;

/// The WASI preview1 functions GoMode's `wasi.ts` provides; any other import fails there.
pub const GOMODE_WASI: [&str; 25] = [
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_time_get",
    "fd_write",
    "fd_read",
    "fd_seek",
    "fd_close",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "path_open",
    "path_filestat_get",
    "fd_filestat_get",
    "fd_readdir",
    "path_create_directory",
    "path_remove_directory",
    "path_unlink_file",
    "path_rename",
    "poll_oneoff",
    "proc_exit",
    "random_get",
    "sched_yield",
];

/// The statuses for which GoMode drops the body (the Fetch standard's null-body statuses, 101
/// aside, which fails anyway).
pub(crate) fn drops_body(status: i32) -> bool {
    matches!(status, 101 | 204 | 205 | 304)
}

/// The method as the Fetch `Request` normalizes it: six methods are upper-cased in any case.
pub(crate) fn fetch_method(method: &str) -> Cow<'_, str> {
    const NORMALIZED: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
    if matches!(method, "GET" | "POST") {
        return Cow::Borrowed(method);
    }
    match NORMALIZED.iter().find(|m| m.eq_ignore_ascii_case(method)) {
        Some(m) => Cow::Borrowed(*m),
        None => Cow::Borrowed(method),
    }
}

/// Whether GoMode passes the body to the guest: only for a method exactly `POST`, `PUT` or `PATCH`.
pub(crate) fn sends_body(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

/// The path and query as the WHATWG URL parser leaves them in `request.url`, without the
/// fragment; `Err` says why the target is not a path. A target the parser would leave as it is
/// (most of them) is returned without parsing it.
pub(crate) fn normalize_target(target: &str) -> Result<Cow<'_, str>, String> {
    if is_normal_target(target) {
        return Ok(Cow::Borrowed(target));
    }
    parse_target(target).map(Cow::Owned)
}

/// Whether the WHATWG URL parser leaves `target` unchanged, by a conservative test: a path of
/// unreserved and sub-delimiter ASCII characters, `:`, `@` and `/`, without `.` or `..` segments,
/// then optionally `?` and a query of the same characters and `?`. Everything the parser could
/// change (percent signs, backslashes, quotes, spaces, controls, non-ASCII, a fragment, dot
/// segments) sends the target through the parser.
fn is_normal_target(target: &str) -> bool {
    let bytes = target.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let mut query = false;
    // How many bytes of the current path segment are dots, or `None` once one is not.
    let mut dots = Some(0u8);
    for &b in &bytes[1..] {
        if b.is_ascii_alphanumeric() || b"-_~!$&()*+,;=:@".contains(&b) {
            dots = None;
        } else if b == b'.' {
            dots = dots.and_then(|n| n.checked_add(1));
        } else if b == b'/' || b == b'?' {
            if !query && matches!(dots, Some(1 | 2)) {
                return false;
            }
            query |= b == b'?';
            dots = Some(0);
        } else {
            return false;
        }
    }
    query || !matches!(dots, Some(1 | 2))
}

/// [`normalize_target`] through the URL parser.
fn parse_target(target: &str) -> Result<String, String> {
    if !target.starts_with('/') {
        return Err(format!("the target {target:?} does not start with `/`"));
    }
    let url = url::Url::parse(&format!("http://localhost{target}"))
        .map_err(|err| format!("{target:?} is not a URL path: {err}"))?;
    if url.host_str() != Some("localhost") {
        return Err(format!("{target:?} changes the URL's host"));
    }
    Ok(url[url::Position::BeforePath..url::Position::AfterQuery].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_normalized_as_gomode_measured() {
        assert_eq!(normalize_target("/echo?a=1&b=%20&c=ü").unwrap(), "/echo?a=1&b=%20&c=%C3%BC");
        assert_eq!(normalize_target("/größe/日本").unwrap(), "/gr%C3%B6%C3%9Fe/%E6%97%A5%E6%9C%AC");
        assert_eq!(normalize_target("/a/../json").unwrap(), "/json");
        assert_eq!(normalize_target("/json#top").unwrap(), "/json");
        assert_eq!(normalize_target("//x").unwrap(), "//x");
        assert!(normalize_target("json").is_err());
        assert!(matches!(normalize_target("/json?x=1&y=/a?b"), Ok(Cow::Borrowed(_))));
    }

    /// Every target the shortcut takes is one the parser leaves unchanged: all targets of up to
    /// three characters after the `/` from an alphabet of what the parser treats specially and
    /// what it does not.
    #[test]
    fn the_shortcut_agrees_with_the_parser() {
        const ALPHABET: &[&str] = &[
            "/", ".", "..", "?", "#", "%", "%2e", "%2E", "a", "Z", "0", "-", "_", "~", "!", "$", "&", "'", "(", ")",
            "*", "+", ",", ";", "=", ":", "@", "\\", " ", "\"", "<", ">", "^", "`", "{", "|", "}", "\t", "\n",
            "\u{7f}", "ü", "\u{0}",
        ];
        let n = ALPHABET.len();
        let mut shortcuts = 0;
        for count in 0..=3u32 {
            for mut index in 0..n.pow(count) {
                let mut target = String::from("/");
                for _ in 0..count {
                    target.push_str(ALPHABET[index % n]);
                    index /= n;
                }
                if is_normal_target(&target) {
                    shortcuts += 1;
                    assert_eq!(parse_target(&target).as_deref(), Ok(target.as_str()), "{target:?}");
                }
                assert_eq!(normalize_target(&target).map(Cow::into_owned), parse_target(&target), "{target:?}");
            }
        }
        assert!(shortcuts > 5_000, "only {shortcuts} targets took the shortcut");
    }

    #[test]
    fn methods_are_normalized_as_fetch_does() {
        assert_eq!(fetch_method("delete"), "DELETE");
        assert_eq!(fetch_method("Get"), "GET");
        assert_eq!(fetch_method("patch"), "patch");
        assert!(sends_body("PATCH") && !sends_body("patch") && !sends_body("DELETE"));
    }
}
