//! `cargo xtask openapi-lint [DOCUMENT]`: the OpenAPI document through the tools its clients use.
//!
//! Most HTTP clients are generated from `docs/openapi.json` (the served document; a test keeps them equal), so it
//! is checked the way they would meet it: Redocly CLI and Spectral (`spectral:oas`) lint it and fail on any error;
//! openapi-typescript generates its types and `tsc --strict` checks `xtask/openapi/story.ts`, the seed's story
//! through openapi-fetch, against them; openapi-python-client generates a client and fails on any warning, since a
//! warning there means a schema or a response left out of the client.
//!
//! The npm tools are pinned by `xtask/openapi/package-lock.json` and installed with `npm ci` only when the lock
//! changed since the last install. Every step runs, so that one run lists every failure; the task fails if any did.
//! A missing `npm` or `openapi-python-client` is skipped with a note, except under `CI=true`, where it is an error.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::{Error, project_root, running_in_ci};

/// The folder of the npm tooling, relative to the workspace root.
const TOOLING: &str = "xtask/openapi";

/// The copy of the lock file that `npm ci` last installed, inside `node_modules`.
const STAMP: &str = "node_modules/.tenancy-installed-lock.json";

pub fn run(args: &[&str]) -> Result<(), Error> {
    let root = project_root();
    let document = match args {
        [] => root.join("docs/openapi.json"),
        [path] => PathBuf::from(path),
        _ => {
            return Err(Error::Usage(format!(
                "openapi-lint takes at most one document, not `{}`",
                args.join(" ")
            )));
        }
    };
    if !document.is_file() {
        return Err(Error::Other(format!(
            "no OpenAPI document at `{}`",
            document.display()
        )));
    }
    let tooling = root.join(TOOLING);
    let out = target_dir(&root).join("openapi-lint");
    fs::create_dir_all(&out)
        .map_err(|error| Error::Other(format!("cannot create `{}`: {error}", out.display())))?;

    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    match npm_install(&tooling)? {
        Tool::Missing(why) => skipped.push(why),
        Tool::Failed => failed.push("npm ci".to_owned()),
        Tool::Ready => {
            let bin = tooling.join("node_modules/.bin");
            let steps: [(&str, Command); 3] = [
                ("redocly", {
                    let mut command = Command::new(bin.join("redocly"));
                    command
                        .arg("lint")
                        .arg(&document)
                        .arg("--config")
                        .arg(tooling.join("redocly.yaml"))
                        .args(["--format", "stylish"]);
                    command
                }),
                ("spectral", {
                    let mut command = Command::new(bin.join("spectral"));
                    command
                        .arg("lint")
                        .arg(&document)
                        .arg("--ruleset")
                        .arg(tooling.join(".spectral.yaml"))
                        .args(["--fail-severity", "error"]);
                    command
                }),
                ("openapi-typescript", {
                    let mut command = Command::new("node");
                    command
                        .arg(tooling.join("generate.mjs"))
                        .arg(&document)
                        .arg(out.join("schema.d.ts"));
                    command
                }),
            ];
            for (name, mut command) in steps {
                if !succeeds(&mut command, &tooling)? {
                    failed.push(name.to_owned());
                }
            }
            if !failed.iter().any(|name| name == "openapi-typescript") {
                write_tsconfig(&tooling, &out)?;
                let mut tsc = Command::new(bin.join("tsc"));
                tsc.arg("--project").arg(out.join("tsconfig.json"));
                if !succeeds(&mut tsc, &tooling)? {
                    failed.push("tsc --strict over story.ts".to_owned());
                }
            }
        }
    }
    match python_client(&document, &out.join("python-client"))? {
        Tool::Missing(why) => skipped.push(why),
        Tool::Ready => {}
        Tool::Failed => failed.push("openapi-python-client".to_owned()),
    }

    for why in &skipped {
        println!("openapi-lint: skipped {why}");
    }
    if failed.is_empty() {
        println!("openapi-lint: {} passes every check", document.display());
        Ok(())
    } else {
        Err(Error::Other(format!(
            "openapi-lint: {} fails {}",
            document.display(),
            failed.join(", ")
        )))
    }
}

/// Whether a tool could run (and, for a check, passed); a missing one is an error under `CI=true`.
enum Tool {
    Ready,
    Failed,
    Missing(String),
}

impl Tool {
    fn missing(tool: &str, install: &str) -> Result<Self, Error> {
        if running_in_ci() {
            Err(Error::Other(format!(
                "{tool} is not installed; {install} (under CI=true a missing tool is an error)"
            )))
        } else {
            Ok(Tool::Missing(format!("{tool}: not installed ({install})")))
        }
    }
}

/// `npm ci` in the tooling folder, unless `node_modules` already holds what the lock file names.
fn npm_install(tooling: &Path) -> Result<Tool, Error> {
    if !available("npm") || !available("node") {
        return Tool::missing("npm", "install Node.js 20 or later with npm");
    }
    let lock = read(&tooling.join("package-lock.json"))?;
    let stamp = tooling.join(STAMP);
    if fs::read_to_string(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(Tool::Ready);
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund"]);
    if !succeeds(&mut npm, tooling)? {
        return Ok(Tool::Failed);
    }
    fs::write(&stamp, lock)
        .map_err(|error| Error::Other(format!("cannot write `{}`: {error}", stamp.display())))?;
    Ok(Tool::Ready)
}

/// openapi-python-client's `generate`; any warning fails, since each one names something left out of the client.
fn python_client(document: &Path, out: &Path) -> Result<Tool, Error> {
    if !available("openapi-python-client") {
        return Tool::missing(
            "openapi-python-client",
            "install it with `python3 -m pip install openapi-python-client`",
        );
    }
    // The audit log's export is NDJSON, which the generator reads as bytes
    // once told so (it knows JSON, text and octet streams only).
    let config = out.with_extension("yaml");
    std::fs::write(
        &config,
        "content_type_overrides:\n  application/x-ndjson: application/octet-stream\n",
    )
    .map_err(|error| Error::Other(format!("cannot write {}: {error}", config.display())))?;
    let mut command = Command::new("openapi-python-client");
    command
        .arg("generate")
        .arg("--path")
        .arg(document)
        .arg("--output-path")
        .arg(out)
        .arg("--config")
        .arg(&config)
        .args(["--overwrite", "--meta", "none"]);
    println!("$ {}", display(&command));
    let output = command
        .output()
        .map_err(|error| Error::Other(format!("cannot run openapi-python-client: {error}")))?;
    let text = combined(&output);
    print!("{text}");
    let warnings = python_client_warnings(&text);
    if output.status.success() && warnings.is_empty() {
        return Ok(Tool::Ready);
    }
    println!(
        "openapi-python-client: {} with {} warnings:",
        output.status,
        warnings.len()
    );
    for warning in warnings {
        println!("  - {warning}");
    }
    Ok(Tool::Failed)
}

/// The lines of openapi-python-client's output that say something was left out or could not be read.
pub fn python_client_warnings(output: &str) -> Vec<String> {
    output
        .lines()
        .map(str::trim)
        .filter(|line| {
            let lower = line.to_ascii_lowercase();
            lower.starts_with("warning")
                || lower.starts_with("error")
                || lower.starts_with("unable to")
                || lower.starts_with("cannot ")
                || lower.contains("will be omitted")
                || lower.contains("will be ignored")
        })
        .map(str::to_owned)
        .collect()
}

/// The tsconfig that checks story.ts: the committed options, plus where the generated types are.
fn write_tsconfig(tooling: &Path, out: &Path) -> Result<(), Error> {
    let config = serde_json::json!({
        "extends": tooling.join("tsconfig.json"),
        "compilerOptions": {
            "paths": { "tenancy-openapi": [out.join("schema.d.ts")] },
        },
        "files": [tooling.join("story.ts")],
    });
    let path = out.join("tsconfig.json");
    fs::write(&path, format!("{config:#}\n"))
        .map_err(|error| Error::Other(format!("cannot write `{}`: {error}", path.display())))
}

/// Prints and runs `command` in `dir`; whether it exited successfully.
fn succeeds(command: &mut Command, dir: &Path) -> Result<bool, Error> {
    command.current_dir(dir);
    let shown = display(command);
    println!("$ {shown}");
    let status = command
        .status()
        .map_err(|error| Error::Other(format!("cannot run `{shown}`: {error}")))?;
    Ok(status.success())
}

fn display(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn combined(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path)
        .map_err(|error| Error::Other(format!("cannot read `{}`: {error}", path.display())))
}

/// Cargo's target folder, where the generated clients go: they are never committed.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_client_warnings_catch_dropped_schemas_and_responses() {
        let output = "Generating /tmp/client\n\
            Warning(s) encountered while generating. Client was generated, but some pieces may be missing\n\
            \n\
            WARNING parsing POST /v1/auth/signup within accounts.\n\
            \n\
            Cannot parse response for status code 201 (Could not find reference), response will be omitted\n\
            Unable to process schema /components/schemas/Org:\n";
        assert_eq!(python_client_warnings(output).len(), 4);
        assert!(python_client_warnings("Generating /tmp/client\n").is_empty());
    }
}
