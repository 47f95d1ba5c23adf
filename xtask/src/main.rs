//! Runnel's developer tasks. `cargo xtask codegen` generates the wire codec's message types
//! from Kafka's JSON message specs into `crates/protocol/src/generated/`; `--check` fails when
//! the committed code differs from what the specs produce (CI runs it).
//!
//! The specs are Kafka 4.4.0's (`../shared/kafka-message-specs-4.4`), joined with the versions
//! Kafka 4.0 dropped that the older snapshot (`../shared/kafka-message-specs`) still describes
//! (`merge.rs`).

mod api_table;
mod emit;
mod merge;
mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => match codegen(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("codegen: {message}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--specs DIR] [--older-specs DIR] [--out DIR] [--check]"
            );
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn codegen(args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let mut specs_dir = root.join("../shared/kafka-message-specs-4.4");
    let mut older_dir = root.join("../shared/kafka-message-specs");
    let mut out_dir = root.join("crates/protocol/src/generated");
    let mut check = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--specs" => specs_dir = PathBuf::from(iter.next().ok_or("--specs needs a directory")?),
            "--older-specs" => {
                older_dir = PathBuf::from(iter.next().ok_or("--older-specs needs a directory")?)
            }
            "--out" => out_dir = PathBuf::from(iter.next().ok_or("--out needs a directory")?),
            "--check" => check = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let older: BTreeMap<String, spec::Spec> = load_dir(&older_dir)?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut specs = Vec::new();
    for current in load_dir(&specs_dir)? {
        let previous = older.get(&current.name);
        if let Some(merged) = merge::merge(current, previous)? {
            specs.push(merged);
        }
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));

    let mut requests = BTreeMap::new();
    let mut responses = BTreeMap::new();
    for s in &specs {
        match (s.kind.as_str(), s.api_key) {
            ("request", Some(key)) => {
                requests.insert(key, s);
            }
            ("response", Some(key)) => {
                responses.insert(key, s);
            }
            _ => {}
        }
    }
    let mut apis = Vec::new();
    for (key, request) in &requests {
        let response = responses
            .get(key)
            .ok_or_else(|| format!("no response for API key {key}"))?;
        let name = request
            .name
            .strip_suffix("Request")
            .ok_or("request name without Request suffix")?;
        apis.push(api_table::Api {
            key: *key,
            name: name.to_string(),
            request,
            response,
        });
    }

    let mut files = BTreeMap::new();
    for s in &specs {
        files.insert(
            format!("{}.rs", emit::snake_case(&s.name)),
            emit::message_module(s)?,
        );
    }
    files.insert("mod.rs".to_string(), api_table::mod_file(&specs, &apis));

    let staging = std::env::temp_dir().join(format!("runnel-codegen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| e.to_string())?;
    for (name, text) in &files {
        std::fs::write(staging.join(name), text).map_err(|e| e.to_string())?;
    }
    let status = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(files.keys().map(|name| staging.join(name)))
        .status()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    if !status.success() {
        return Err(format!(
            "rustfmt failed on the generated code in {}",
            staging.display()
        ));
    }

    let result = if check {
        compare(&staging, &out_dir, &files)
    } else {
        install(&staging, &out_dir, &files)
    };
    let _ = std::fs::remove_dir_all(&staging);
    result?;
    if !check {
        println!(
            "generated {} files ({} APIs) into {}",
            files.len(),
            apis.len(),
            out_dir.display()
        );
    }
    Ok(())
}

/// Every spec in `dir` and its `coordinator-records/`, in file-name order.
fn load_dir(dir: &Path) -> Result<Vec<spec::Spec>, String> {
    let mut paths = Vec::new();
    for dir in [dir.to_path_buf(), dir.join("coordinator-records")] {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths.iter().map(|p| spec::load(p)).collect()
}

fn compare(staging: &Path, out_dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    let mut differing = Vec::new();
    for name in files.keys() {
        let fresh = std::fs::read(staging.join(name)).map_err(|e| e.to_string())?;
        if std::fs::read(out_dir.join(name)).ok().as_deref() != Some(fresh.as_slice()) {
            differing.push(name.clone());
        }
    }
    for entry in std::fs::read_dir(out_dir).map_err(|e| e.to_string())? {
        let name = entry
            .map_err(|e| e.to_string())?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !files.contains_key(&name) {
            differing.push(format!("{name} (not generated)"));
        }
    }
    if differing.is_empty() {
        println!("generated code is up to date ({} files)", files.len());
        Ok(())
    } else {
        Err(format!(
            "committed generated code differs from the specs in: {}; run `cargo xtask codegen`",
            differing.join(", ")
        ))
    }
}

fn install(staging: &Path, out_dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(out_dir);
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    for name in files.keys() {
        std::fs::copy(staging.join(name), out_dir.join(name)).map_err(|e| e.to_string())?;
    }
    Ok(())
}
