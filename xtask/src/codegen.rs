//! `cargo xtask codegen`: the committed files that are generated from code.
//!
//! They are committed so that they can be read and reviewed without building anything;
//! a test (`xtask/tests/codegen.rs`) fails when one of them is stale.

use std::fs;
use std::path::Path;

use crate::{Error, project_root};

/// A committed file and the function that produces its contents.
#[derive(Debug, Clone, Copy)]
pub struct Generated {
    /// Relative to the workspace root, with `/` separators.
    pub path: &'static str,
    pub generate: fn() -> String,
}

/// Every generated file; adding one is adding a line here.
pub const GENERATED: &[Generated] = &[Generated {
    path: "docs/permissions.md",
    generate: tenancy_core::policy::permissions_markdown,
}];

/// Whether `cargo xtask codegen` writes the files or only reports the stale ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    Check,
}

pub fn run(mode: Mode) -> Result<(), Error> {
    let root = project_root();
    match mode {
        Mode::Write => {
            for file in GENERATED {
                if write_if_stale(&root, file)? {
                    println!("updated {}", file.path);
                } else {
                    println!("unchanged {}", file.path);
                }
            }
            write_openapi(&root)
        }
        Mode::Check => {
            let stale = stale_files(&root)?;
            if stale.is_empty() {
                println!(
                    "codegen: {} generated files are up to date",
                    GENERATED.len()
                );
                Ok(())
            } else {
                Err(Error::Other(stale_message(&stale)))
            }
        }
    }
}

/// `docs/openapi.json` is what the server serves, which needs the app and a
/// store to build: the HTTP layer's own test writes it when asked to, and
/// otherwise checks it (that check runs in `cargo test`).
fn write_openapi(root: &Path) -> Result<(), Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("$ TENANCY_UPDATE_OPENAPI=1 cargo test -p tenancy-http --test it openapi");
    let status = std::process::Command::new(cargo)
        .current_dir(root)
        .env("TENANCY_UPDATE_OPENAPI", "1")
        .args([
            "test",
            "--quiet",
            "-p",
            "tenancy-http",
            "--test",
            "it",
            "openapi",
        ])
        .status()
        .map_err(|e| Error::Other(format!("cannot run cargo: {e}")))?;
    if status.success() {
        println!("updated docs/openapi.json");
        Ok(())
    } else {
        Err(Error::CommandFailed {
            command: "cargo test -p tenancy-http --test it openapi".to_owned(),
            status,
        })
    }
}

/// The generated files under `root` whose contents differ from what their generator produces, or which are missing.
pub fn stale_files(root: &Path) -> Result<Vec<&'static str>, Error> {
    let mut stale = Vec::new();
    for file in GENERATED {
        if read_if_present(&root.join(file.path))? != Some((file.generate)()) {
            stale.push(file.path);
        }
    }
    Ok(stale)
}

/// The message for stale files, which tells the reader how to fix them.
pub fn stale_message(stale: &[&str]) -> String {
    let list: Vec<String> = stale.iter().map(|path| format!("  {path}")).collect();
    format!(
        "generated files are stale:\n{}\nrun `cargo xtask codegen` and commit the result",
        list.join("\n")
    )
}

/// Writes the file unless it already holds the generated contents; returns whether it wrote.
fn write_if_stale(root: &Path, file: &Generated) -> Result<bool, Error> {
    let path = root.join(file.path);
    let contents = (file.generate)();
    if read_if_present(&path)?.as_deref() == Some(contents.as_str()) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create `{}`: {error}", parent.display()))?;
    }
    fs::write(&path, contents)
        .map_err(|error| format!("cannot write `{}`: {error}", path.display()))?;
    Ok(true)
}

fn read_if_present(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(contents) => Ok(Some(contents)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::Other(format!(
            "cannot read `{}`: {error}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_paths_are_distinct_and_relative() {
        let mut paths: Vec<&str> = GENERATED.iter().map(|file| file.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), GENERATED.len(), "a path is generated twice");
        for path in paths {
            assert!(Path::new(path).is_relative(), "`{path}` is not relative");
        }
    }

    #[test]
    fn stale_message_names_the_files_and_the_fix() {
        let message = stale_message(&["docs/a.md", "docs/b.json"]);
        assert!(
            message.contains("  docs/a.md\n  docs/b.json\n"),
            "{message}"
        );
        assert!(message.contains("`cargo xtask codegen`"), "{message}");
    }
}
