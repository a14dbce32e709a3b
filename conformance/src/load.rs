//! The corpus loader: reads every case file of a corpus folder (or the copy built into a binary),
//! expands matrix cases and checks that each case is well formed and its ID unique.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::case::{Case, Mode, VectorSpec};
use crate::simd::{oracle, simd_kernel};
use host::{Profile, Rule};

/// A case with its area (the folder it came from) and its full name.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The folder under `cases/`: routing, encoding, simd, lifecycle, memory, …
    pub area: String,
    /// The file the case came from, as `<area>/<file>.json`.
    pub file: PathBuf,
    /// The case, with any matrix already expanded.
    pub case: Case,
}

impl Entry {
    /// `area::name`, the case's ID in test names and reports.
    pub fn id(&self) -> String {
        format!("{}::{}", self.area, self.case.name)
    }

    /// Whether the case applies to a guest built in `mode`.
    pub fn applies_to(&self, mode: Mode) -> bool {
        self.case.modes.is_empty() || self.case.modes.contains(&mode)
    }

    /// Whether the case runs under `profile`.
    pub fn runs_under(&self, profile: Profile) -> bool {
        self.case.profiles.is_empty() || self.case.profiles.contains(&profile)
    }
}

/// One case file: its area (the folder it lies in), its name, and its text.
#[derive(Clone, Copy, Debug)]
pub struct CaseFile<'a> {
    /// The folder under `cases/`.
    pub area: &'a str,
    /// The file name, such as `routes.json`.
    pub name: &'a str,
    /// The JSON text.
    pub text: &'a str,
}

/// Every case of a corpus.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The cases, sorted by ID.
    pub entries: Vec<Entry>,
}

impl Corpus {
    /// The corpus of this workspace, `conformance/cases`.
    pub fn workspace_dir() -> PathBuf {
        crate::workspace_root().join("conformance/cases")
    }

    /// Loads every `<area>/*.json` file under `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Corpus> {
        let mut files = Vec::new();
        let mut areas: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the corpus at {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        areas.sort_by_key(|e| e.file_name());
        for area in areas.into_iter().filter(|e| e.path().is_dir()) {
            let area_name = area.file_name().to_string_lossy().into_owned();
            let mut paths: Vec<_> =
                std::fs::read_dir(area.path())?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
            paths.sort();
            for path in paths.into_iter().filter(|p| p.extension().is_some_and(|x| x == "json")) {
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                files.push((area_name.clone(), name, text));
            }
        }
        Corpus::from_files(files.iter().map(|(area, name, text)| CaseFile { area, name, text }))
    }

    /// Parses case files, expands matrices, checks every case, and checks that IDs are unique.
    pub fn from_files<'a>(files: impl IntoIterator<Item = CaseFile<'a>>) -> anyhow::Result<Corpus> {
        let mut entries = Vec::new();
        for file in files {
            let path = Path::new(file.area).join(file.name);
            let cases: Vec<Case> = serde_json::from_str(file.text)
                .with_context(|| format!("{} is not a valid case file", path.display()))?;
            for case in cases.into_iter().flat_map(expand) {
                check_case(&case).with_context(|| format!("case `{}` in {}", case.name, path.display()))?;
                entries.push(Entry { area: file.area.to_owned(), file: path.clone(), case });
            }
        }
        entries.sort_by_key(Entry::id);
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].id() == pair[1].id()) {
            bail!("the case ID `{}` is used twice", pair[0].id());
        }
        Ok(Corpus { entries })
    }
}

fn expand(case: Case) -> Vec<Case> {
    let Some(matrix) = case.matrix.clone() else { return vec![case] };
    let mut out = Vec::new();
    for &len in &matrix.len {
        for &fill in &matrix.fill {
            let mut expanded = case.clone();
            expanded.matrix = None;
            expanded.name = format!("{}/len{len}/{}", case.name, fill.name());
            if let Some(simd) = &mut expanded.request.simd {
                for spec in [&mut simd.a, &mut simd.b].into_iter().flatten() {
                    if let VectorSpec::Generated(generator) = spec {
                        generator.len = len;
                        generator.fill = fill;
                    }
                }
            }
            out.push(expanded);
        }
    }
    out
}

fn check_case(case: &Case) -> anyhow::Result<()> {
    if case.purpose.trim().is_empty() || case.purpose.contains('\n') {
        bail!("the purpose must be one non-empty line");
    }
    if case.repeat == 0 {
        bail!("repeat must be at least 1");
    }
    let expects = std::iter::once(&case.expect).chain(case.expect_under.values());
    let steps = case.then.iter().flat_map(|step| std::iter::once(&step.expect).chain(step.expect_under.values()));
    for expect in expects.clone().chain(steps) {
        if let Some(rule) = &expect.error {
            if Rule::from_id(rule).is_none() {
                bail!("expect.error names `{rule}`, which is not a rule of ABI.md");
            }
            if expect.status.is_some() || expect.body.is_some() || expect.echo || expect.simd.is_some() {
                bail!("an expectation with `error` sets no other field");
            }
        }
    }
    for expect in expects {
        if let Some(bodies) = &expect.bodies
            && bodies.len() != case.repeat as usize
        {
            bail!("expect.bodies has {} entries but repeat is {}", bodies.len(), case.repeat);
        }
    }
    if case.request.simd.is_some() && case.request.body.is_some() {
        bail!("a request has either `simd` or `body`, not both");
    }
    if case.expect.simd.is_some() {
        let kernel = simd_kernel(&case.request.path).context("expect.simd needs a /simd/<kernel> path")?;
        oracle(kernel, case.request.simd.as_ref().context("expect.simd needs request.simd")?)?;
    }
    Ok(())
}
