//! The one-line `gomode-host call` command that sends a case's request, printed with every failure.

use std::path::Path;

use host::Profile;

use crate::case::Case;
use crate::check::request;

/// A one-line `gomode-host call` command that sends the case's request to `guest` under
/// `profile`. Bodies that are long or generated are written to `scratch` and passed with
/// `--data-file`.
pub fn reproduce(case: &Case, guest: &Path, scratch: &Path, profile: Profile) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut command = format!("gomode-host call --profile {profile} {}", quote(&guest.display().to_string()));
    if case.request.method != "GET" {
        command.push_str(&format!(" -X {}", case.request.method));
    }
    command.push(' ');
    command.push_str(&quote(&case.request.path));
    for [name, value] in &case.request.headers {
        command.push_str(&format!(" -H {}", quote(&format!("{name}: {value}"))));
    }
    if let Ok(request) = request(case)
        && !request.body.is_empty()
    {
        if request.body.len() <= 200 && case.request.simd.is_none() {
            command.push_str(&format!(" -d {}", quote(&String::from_utf8_lossy(&request.body))));
        } else {
            let file = scratch.join(format!("{}.body", case.name.replace('/', "_")));
            let written = std::fs::create_dir_all(scratch).and_then(|()| std::fs::write(&file, &request.body));
            match written {
                Ok(()) => command.push_str(&format!(" --data-file {}", quote(&file.display().to_string()))),
                Err(err) => command.push_str(&format!(" --data-file <could not write {}: {err}>", file.display())),
            }
        }
    }
    if case.repeat > 1 {
        command.push_str(&format!(" --repeat {}", case.repeat));
    }
    if !case.then.is_empty() {
        command.push_str(&format!("  # then {} more requests to the same instance", case.then.len()));
    }
    if case.request.path.contains(crate::upstream::PLACEHOLDER) {
        command.push_str(
            "  # {upstream} is the runner's loopback server (conformance/src/upstream.rs): put your own \
             server there and allow it with --allow-net HOST:PORT",
        );
    }
    command
}
