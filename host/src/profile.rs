//! The two contracts a guest is judged by: the portable ABI (`abi`) and GoMode's Worker as
//! deployed (`gomode`), with the facts about GoMode's glue that the runtime needs.
//!
//! `conformance/ABI.md` §11 describes every difference; this file holds the constants and the
//! request normalization, so that the runtime (`instance.rs`, `request.rs`, `response.rs`) asks a
//! [`Profile`] instead of spreading GoMode's quirks around.

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
pub(crate) fn fetch_method(method: &str) -> String {
    const NORMALIZED: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
    match NORMALIZED.iter().find(|m| m.eq_ignore_ascii_case(method)) {
        Some(m) => (*m).to_owned(),
        None => method.to_owned(),
    }
}

/// Whether GoMode passes the body to the guest: only for a method exactly `POST`, `PUT` or `PATCH`.
pub(crate) fn sends_body(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

/// The path and query as the WHATWG URL parser leaves them in `request.url`, without the
/// fragment; `Err` says why the target is not a path.
pub(crate) fn normalize_target(target: &str) -> Result<String, String> {
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
    }

    #[test]
    fn methods_are_normalized_as_fetch_does() {
        assert_eq!(fetch_method("delete"), "DELETE");
        assert_eq!(fetch_method("patch"), "patch");
        assert!(sends_body("PATCH") && !sends_body("patch") && !sends_body("DELETE"));
    }
}
