//! `cargo xtask tidy`: conventions that neither the compiler nor clippy enforces.
//!
//! - tenancy-core stays pure: its normal dependencies, followed transitively as cargo resolves them for the workspace, reach no database, HTTP or async-runtime crate.
//! - Every workspace member inherits the workspace lints, is unpublished, and takes every dependency from `[workspace.dependencies]`.
//! - tenancy-http chooses error statuses in `problem.rs` only: elsewhere an `ApiError` is built from a `ProblemCode` or a named constructor, never from a status or a code string.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::{Error, cargo};

/// The crate whose dependency graph is checked.
pub const CORE: &str = "tenancy-core";

/// Database, HTTP, async-runtime and mail crates, none of which the core may reach.
pub const FORBIDDEN: &[&str] = &[
    "tokio",
    "sea-orm",
    "sea-query",
    "sqlx",
    "poem",
    "poem-openapi",
    "hyper",
    "axum",
    "actix-web",
    "reqwest",
    "mio",
    "async-std",
    "smol",
    "rusqlite",
    "diesel",
    "lettre",
    "tower",
];

const DEPENDENCY_SECTIONS: &[&str] = &["dependencies", "dev-dependencies", "build-dependencies"];

pub fn run() -> Result<(), Error> {
    let metadata = cargo_metadata()?;
    let problems = check(&metadata)?;
    if problems.is_empty() {
        println!(
            "tidy: {CORE} reaches none of the {} forbidden packages, the workspace manifests follow the conventions, and tenancy-http chooses error statuses in `problem.rs` only",
            FORBIDDEN.len()
        );
        Ok(())
    } else {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        Err(Error::Other(format!(
            "tidy found {} problems:\n{}",
            problems.len(),
            list.join("\n")
        )))
    }
}

/// `cargo metadata` for the whole workspace, with the dependency graph resolved.
pub fn cargo_metadata() -> Result<Value, Error> {
    let output = cargo(&["metadata", "--format-version", "1"])
        .output()
        .map_err(|error| format!("cannot run `cargo metadata`: {error}"))?;
    if !output.status.success() {
        return Err(Error::Other(format!(
            "`cargo metadata` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| Error::Other(format!("cannot parse `cargo metadata` output: {error}")))
}

/// Every tidy problem in the workspace described by `metadata`, as one line each.
pub fn check(metadata: &Value) -> Result<Vec<String>, Error> {
    let mut problems: Vec<String> = forbidden_dependencies(metadata, CORE, FORBIDDEN)?
        .iter()
        .map(ToString::to_string)
        .collect();
    let root = PathBuf::from(str_field(metadata, "workspace_root")?);
    for package in workspace_packages(metadata)? {
        let manifest = PathBuf::from(str_field(package, "manifest_path")?);
        let contents = std::fs::read_to_string(&manifest)
            .map_err(|error| format!("cannot read `{}`: {error}", manifest.display()))?;
        let shown = manifest.strip_prefix(&root).unwrap_or(&manifest);
        problems.extend(
            manifest_problems(&manifest, &contents)?
                .into_iter()
                .map(|problem| format!("{}: {problem}", shown.display())),
        );
    }
    problems.extend(http_status_problems(&root)?);
    Ok(problems)
}

/// The sources of the HTTP layer, relative to the workspace root.
pub const HTTP_SOURCES: &str = "crates/tenancy-http/src";

/// The one file of [`HTTP_SOURCES`] that maps codes to statuses.
pub const PROBLEM_MODULE: &str = "problem.rs";

/// The `StatusCode` constants that are not errors (1xx, 2xx, 3xx): a
/// responder may name them anywhere (the console answers 200 and 304). The
/// list names what is allowed rather than what is not, so that a constant it
/// does not know counts as an error status.
const NON_ERROR_STATUSES: &[&str] = &[
    "CONTINUE",
    "SWITCHING_PROTOCOLS",
    "PROCESSING",
    "OK",
    "CREATED",
    "ACCEPTED",
    "NON_AUTHORITATIVE_INFORMATION",
    "NO_CONTENT",
    "RESET_CONTENT",
    "PARTIAL_CONTENT",
    "MULTI_STATUS",
    "ALREADY_REPORTED",
    "IM_USED",
    "MULTIPLE_CHOICES",
    "MOVED_PERMANENTLY",
    "FOUND",
    "SEE_OTHER",
    "NOT_MODIFIED",
    "USE_PROXY",
    "TEMPORARY_REDIRECT",
    "PERMANENT_REDIRECT",
];

/// Every file of [`HTTP_SOURCES`] but [`PROBLEM_MODULE`] that chooses an error status itself.
fn http_status_problems(root: &Path) -> Result<Vec<String>, Error> {
    let mut files = Vec::new();
    rust_files(&root.join(HTTP_SOURCES), &mut files)?;
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        if file.file_name().is_some_and(|name| name == PROBLEM_MODULE)
            && file.parent() == Some(root.join(HTTP_SOURCES).as_path())
        {
            continue;
        }
        let source = std::fs::read_to_string(&file)
            .map_err(|error| format!("cannot read `{}`: {error}", file.display()))?;
        let shown = file.strip_prefix(root).unwrap_or(&file);
        problems.extend(
            status_problems(&source)
                .into_iter()
                .map(|problem| format!("{}:{problem}", shown.display())),
        );
    }
    Ok(problems)
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot read `{}`: {error}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|error| format!("cannot read `{}`: {error}", dir.display()))?
            .path();
        if path.is_dir() {
            rust_files(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
    Ok(())
}

/// Where a source of tenancy-http outside `problem.rs` chooses an error
/// status, as `line: what`. Three things count, in code only (comments and
/// the insides of string literals are blanked first, and a trailing
/// `#[cfg(test)]` module is left out, since tests may assert any status):
///
/// - `ApiError::new(`, the constructor that pairs a code with a detail;
/// - a `StatusCode::` constant that is not in [`NON_ERROR_STATUSES`], which
///   is how poem names an error status;
/// - an integer literal from 100 to 599 as the first argument of any
///   `ApiError::` function or of `StatusCode::from_u16`, which is how a bare
///   status would come back in.
///
/// Other numbers (`#[oai(status = 201)]` on a success response, sizes,
/// retry delays) are not looked at: they are not passed where a status is.
pub fn status_problems(source: &str) -> Vec<String> {
    let code = code_only(source);
    let mut problems = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    for (at, _) in code.match_indices("ApiError::") {
        let rest = &code[at + "ApiError::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = rest[name.len()..].trim_start();
        let Some(arguments) = after.strip_prefix('(') else {
            continue;
        };
        if name == "new" {
            problems.push(format!(
                "{}: `ApiError::new(` outside `{PROBLEM_MODULE}`; use a named constructor or a `ProblemCode`",
                line_of(at)
            ));
        } else if let Some(status) = status_literal(arguments) {
            problems.push(format!(
                "{}: the status {status} passed to `ApiError::{name}`; pass a `ProblemCode`",
                line_of(at)
            ));
        }
    }
    for (at, _) in code.match_indices("StatusCode::") {
        let rest = &code[at + "StatusCode::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let is_constant = name.starts_with(|c: char| c.is_ascii_uppercase());
        if is_constant && !NON_ERROR_STATUSES.contains(&name.as_str()) {
            problems.push(format!(
                "{}: `StatusCode::{name}` outside `{PROBLEM_MODULE}`; an error leaves as a `ProblemCode`",
                line_of(at)
            ));
        } else if name == "from_u16" {
            let arguments = rest[name.len()..].trim_start().strip_prefix('(');
            if let Some(status) = arguments.and_then(status_literal)
                && status >= 400
            {
                problems.push(format!(
                    "{}: `StatusCode::from_u16({status})` outside `{PROBLEM_MODULE}`; an error leaves as a `ProblemCode`",
                    line_of(at)
                ));
            }
        }
    }
    problems.sort_by_key(|problem| {
        problem
            .split(':')
            .next()
            .and_then(|line| line.parse::<usize>().ok())
    });
    problems
}

/// The first argument of a call, when it is an integer literal that could be an HTTP status.
fn status_literal(arguments: &str) -> Option<u16> {
    let arguments = arguments.trim_start();
    let digits: String = arguments
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '_')
        .filter(|c| *c != '_')
        .collect();
    let next = arguments[digits.len()..].chars().next();
    // `404_u16` and `404u16` are literals too; `4.5` and `404abc` are not statuses.
    let suffix_ok = next.is_none_or(|c| !c.is_ascii_alphanumeric() || c == 'u' || c == 'i');
    let status: u16 = digits.parse().ok()?;
    ((100..600).contains(&status) && suffix_ok).then_some(status)
}

/// `source` with its comments and the insides of its string and character
/// literals replaced by spaces (line breaks kept, so that lines still count),
/// cut before a trailing test module.
fn code_only(source: &str) -> String {
    let source = match source.find("\n#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    out.push(if c == '\n' { '\n' } else { ' ' });
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        out.push('"');
                        break;
                    }
                    escaped = !escaped && c == '\\';
                    out.push(if c == '\n' { '\n' } else { ' ' });
                }
            }
            // A character literal such as `'"'` must not open a string; a
            // lifetime (`'a`) is left as it is.
            '\'' => {
                out.push('\'');
                let mut lookahead = chars.clone();
                let literal = match (lookahead.next(), lookahead.next(), lookahead.next()) {
                    (Some('\\'), Some(_), Some('\'')) => 3,
                    (Some(c), Some('\''), _) if c != '\\' => 2,
                    _ => 0,
                };
                for _ in 0..literal {
                    chars.next();
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A forbidden package reached from the root, with the chain of package names that reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForbiddenDependency {
    /// From the root package to the forbidden one, both included.
    pub path: Vec<String>,
}

impl ForbiddenDependency {
    pub fn forbidden(&self) -> &str {
        self.path.last().map_or("", String::as_str)
    }
}

impl fmt::Display for ForbiddenDependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let root = self.path.first().map_or("", String::as_str);
        write!(
            f,
            "{root} must not depend on `{}`, but does through {}",
            self.forbidden(),
            self.path.join(" -> ")
        )
    }
}

/// Walks the resolved graph from the workspace member `root` along normal dependencies only (not dev or build ones)
/// and returns each forbidden package it reaches, with a shortest path to it.
pub fn forbidden_dependencies(
    metadata: &Value,
    root: &str,
    forbidden: &[&str],
) -> Result<Vec<ForbiddenDependency>, Error> {
    let names: HashMap<&str, &str> = array_field(metadata, "packages")?
        .iter()
        .map(|package| Ok((str_field(package, "id")?, str_field(package, "name")?)))
        .collect::<Result<_, Error>>()?;
    let root_id = workspace_packages(metadata)?
        .into_iter()
        .find(|package| package.get("name").and_then(Value::as_str) == Some(root))
        .map(|package| str_field(package, "id"))
        .transpose()?
        .ok_or_else(|| format!("`{root}` is not a workspace member"))?;
    let resolve = field(metadata, "resolve")?;
    let nodes: HashMap<&str, &Value> = array_field(resolve, "nodes")?
        .iter()
        .map(|node| Ok((str_field(node, "id")?, node)))
        .collect::<Result<_, Error>>()?;
    let name_of = |id: &str| names.get(id).copied().unwrap_or(id).to_owned();

    // A breadth-first walk, so that the path reported for each forbidden package is a shortest one.
    let mut parent: HashMap<&str, &str> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::from([root_id]);
    let mut queue = VecDeque::from([root_id]);
    let mut found = Vec::new();
    while let Some(id) = queue.pop_front() {
        if id != root_id && forbidden.contains(&names.get(id).copied().unwrap_or_default()) {
            let mut path = vec![name_of(id)];
            let mut current = id;
            while let Some(&previous) = parent.get(current) {
                path.push(name_of(previous));
                current = previous;
            }
            path.reverse();
            found.push(ForbiddenDependency { path });
        }
        let node = nodes
            .get(id)
            .ok_or_else(|| format!("`cargo metadata` resolves no node for `{id}`"))?;
        for dependency in array_field(node, "deps")? {
            if !is_normal(dependency)? {
                continue;
            }
            let next = str_field(dependency, "pkg")?;
            if seen.insert(next) {
                parent.insert(next, id);
                queue.push_back(next);
            }
        }
    }
    found.sort_by(|a, b| a.forbidden().cmp(b.forbidden()));
    Ok(found)
}

/// Whether a resolved dependency edge is a normal one (cargo reports its kind as `null`) on any target.
fn is_normal(dependency: &Value) -> Result<bool, Error> {
    Ok(array_field(dependency, "dep_kinds")?
        .iter()
        .any(|kind| kind.get("kind").is_some_and(Value::is_null)))
}

/// The manifest conventions that `manifest` (at `manifest_path`) breaks, one line each.
pub fn manifest_problems(manifest_path: &Path, manifest: &str) -> Result<Vec<String>, Error> {
    let manifest: toml::Table = manifest
        .parse()
        .map_err(|error| format!("cannot parse `{}`: {error}", manifest_path.display()))?;
    let mut problems = Vec::new();

    let package = manifest.get("package").and_then(toml::Value::as_table);
    let name = package
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str)
        .unwrap_or_default();
    if package.and_then(|package| package.get("publish")) != Some(&toml::Value::Boolean(false)) {
        problems.push("`[package]` must set `publish = false`".to_owned());
    }
    if !is_workspace_inherited(manifest.get("lints")) {
        problems.push("must have `[lints]` with `workspace = true`".to_owned());
    }

    let package_dir = manifest_path.parent().unwrap_or(Path::new(""));
    let targets = manifest
        .get("target")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|targets| targets.iter())
        .filter_map(|(cfg, table)| Some((format!("target.{cfg}."), table.as_table()?)));
    for (prefix, table) in std::iter::once((String::new(), &manifest)).chain(targets) {
        for &section in DEPENDENCY_SECTIONS {
            let Some(dependencies) = table.get(section).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, spec) in dependencies {
                if is_workspace_inherited(Some(spec))
                    || (section == "dev-dependencies" && is_self(name, package_dir, key, spec))
                {
                    continue;
                }
                problems.push(format!(
                    "`{key}` in `[{prefix}{section}]` must be `{key}.workspace = true`, declared once in the root `[workspace.dependencies]`"
                ));
            }
        }
    }
    Ok(problems)
}

/// Whether a table says `workspace = true`.
fn is_workspace_inherited(value: Option<&toml::Value>) -> bool {
    value
        .and_then(toml::Value::as_table)
        .and_then(|table| table.get("workspace"))
        .and_then(toml::Value::as_bool)
        == Some(true)
}

/// Whether a dependency is the package itself by path, which is how a crate turns on its own features for its tests.
fn is_self(name: &str, package_dir: &Path, key: &str, spec: &toml::Value) -> bool {
    let Some(spec) = spec.as_table() else {
        return false;
    };
    let dependency_name = spec
        .get("package")
        .and_then(toml::Value::as_str)
        .unwrap_or(key);
    let Some(path) = spec.get("path").and_then(toml::Value::as_str) else {
        return false;
    };
    dependency_name == name && normalize(&package_dir.join(path)) == normalize(package_dir)
}

/// Resolves `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

fn workspace_packages(metadata: &Value) -> Result<Vec<&Value>, Error> {
    let members: HashSet<&str> = array_field(metadata, "workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut packages = Vec::new();
    for package in array_field(metadata, "packages")? {
        if members.contains(str_field(package, "id")?) {
            packages.push(package);
        }
    }
    Ok(packages)
}

fn field<'a>(value: &'a Value, key: &str) -> Result<&'a Value, Error> {
    value
        .get(key)
        .filter(|field| !field.is_null())
        .ok_or_else(|| Error::Other(format!("`cargo metadata` output lacks `{key}`")))
}

fn str_field<'a>(value: &'a Value, key: &str) -> Result<&'a str, Error> {
    field(value, key)?
        .as_str()
        .ok_or_else(|| Error::Other(format!("`cargo metadata` field `{key}` is not a string")))
}

fn array_field<'a>(value: &'a Value, key: &str) -> Result<&'a Vec<Value>, Error> {
    field(value, key)?
        .as_array()
        .ok_or_else(|| Error::Other(format!("`cargo metadata` field `{key}` is not an array")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NORMAL: &str = "normal";

    /// A `cargo metadata` document with one workspace member, `tenancy-core`, and the given edges `(from, to, kind)`,
    /// where `kind` is `"normal"`, `"dev"` or `"build"`.
    fn metadata(edges: &[(&str, &str, &str)]) -> Value {
        let id = |name: &str| format!("registry+https://example.invalid#{name}@1.0.0");
        let mut names: Vec<&str> = vec![CORE];
        for &(from, to, _) in edges {
            names.extend([from, to]);
        }
        names.sort_unstable();
        names.dedup();
        let packages: Vec<Value> = names
            .iter()
            .map(|name| json!({ "name": name, "id": id(name) }))
            .collect();
        let nodes: Vec<Value> = names
            .iter()
            .map(|&name| {
                let deps: Vec<Value> = edges
                    .iter()
                    .filter(|edge| edge.0 == name)
                    .map(|&(_, to, kind)| {
                        let kind = if kind == NORMAL {
                            Value::Null
                        } else {
                            Value::from(kind)
                        };
                        json!({ "name": to, "pkg": id(to), "dep_kinds": [{ "kind": kind, "target": null }] })
                    })
                    .collect();
                json!({ "id": id(name), "deps": deps })
            })
            .collect();
        json!({
            "packages": packages,
            "workspace_members": [id(CORE)],
            "workspace_root": "/nowhere",
            "resolve": { "root": null, "nodes": nodes },
        })
    }

    #[test]
    fn reports_a_transitive_forbidden_dependency_with_its_path() {
        let metadata = metadata(&[(CORE, "x", NORMAL), ("x", "tokio", NORMAL)]);
        let found = forbidden_dependencies(&metadata, CORE, FORBIDDEN).unwrap();
        assert_eq!(
            found,
            vec![ForbiddenDependency {
                path: vec![CORE.to_owned(), "x".to_owned(), "tokio".to_owned()],
            }]
        );
        let message = found[0].to_string();
        assert!(message.contains("`tokio`"), "{message}");
        assert!(message.contains("tenancy-core -> x -> tokio"), "{message}");
    }

    #[test]
    fn reports_a_shortest_path_to_each_forbidden_package() {
        let metadata = metadata(&[
            (CORE, "a", NORMAL),
            ("a", "b", NORMAL),
            ("b", "tokio", NORMAL),
            (CORE, "c", NORMAL),
            ("c", "tokio", NORMAL),
            ("c", "hyper", NORMAL),
        ]);
        let found = forbidden_dependencies(&metadata, CORE, FORBIDDEN).unwrap();
        let paths: Vec<String> = found.iter().map(|f| f.path.join(" -> ")).collect();
        assert_eq!(
            paths,
            ["tenancy-core -> c -> hyper", "tenancy-core -> c -> tokio"]
        );
    }

    #[test]
    fn ignores_dev_and_build_dependencies() {
        let metadata = metadata(&[
            (CORE, "tokio", "dev"),
            (CORE, "x", "build"),
            ("x", "sqlx", NORMAL),
            (CORE, "y", NORMAL),
            ("y", "z", "dev"),
            ("z", "poem", NORMAL),
        ]);
        assert_eq!(
            forbidden_dependencies(&metadata, CORE, FORBIDDEN).unwrap(),
            []
        );
    }

    #[test]
    fn an_unknown_root_is_an_error() {
        let metadata = metadata(&[]);
        let error = forbidden_dependencies(&metadata, "tenancy-nothing", FORBIDDEN).unwrap_err();
        assert!(error.to_string().contains("`tenancy-nothing`"), "{error}");
    }

    const CONFORMING: &str = r#"
        [package]
        name = "tenancy-core"
        edition.workspace = true
        publish = false

        [dependencies]
        serde.workspace = true
        uuid = { workspace = true, features = ["v4"] }

        [dev-dependencies]
        proptest.workspace = true
        tenancy-core = { path = ".", features = ["test-util"] }

        [target.'cfg(unix)'.build-dependencies]
        cc.workspace = true

        [lints]
        workspace = true
    "#;

    fn problems(manifest: &str) -> Vec<String> {
        manifest_problems(Path::new("/repo/crates/tenancy-core/Cargo.toml"), manifest).unwrap()
    }

    #[test]
    fn a_conforming_manifest_has_no_problems() {
        assert_eq!(problems(CONFORMING), Vec::<String>::new());
    }

    #[test]
    fn requires_unpublished_and_workspace_lints() {
        let manifest = CONFORMING
            .replace("publish = false", "")
            .replace("[lints]\n        workspace = true", "");
        let found = problems(&manifest);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("publish = false"), "{found:?}");
        assert!(found[1].contains("[lints]"), "{found:?}");
    }

    #[test]
    fn requires_workspace_dependencies_in_every_section() {
        let manifest = format!(
            "{CONFORMING}\n\
             [build-dependencies.cc]\nversion = \"1\"\n\
             [target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n"
        )
        .replace("serde.workspace = true", "serde = \"1\"")
        .replace(
            "proptest.workspace = true",
            "proptest = { workspace = false }",
        );
        let found = problems(&manifest);
        let expected = [
            "`serde` in `[dependencies]`",
            "`proptest` in `[dev-dependencies]`",
            "`cc` in `[build-dependencies]`",
            "`libc` in `[target.cfg(unix).dependencies]`",
        ];
        assert_eq!(found.len(), expected.len(), "{found:?}");
        for (problem, expected) in found.iter().zip(expected) {
            assert!(problem.contains(expected), "{problem} lacks {expected}");
        }
    }

    #[test]
    fn a_path_dependency_is_allowed_only_on_the_crate_itself_in_dev_dependencies() {
        let elsewhere = CONFORMING.replace("path = \".\"", "path = \"../other\"");
        assert_eq!(problems(&elsewhere).len(), 1);
        let self_via_dotdot = CONFORMING.replace("path = \".\"", "path = \"../tenancy-core\"");
        assert_eq!(problems(&self_via_dotdot), Vec::<String>::new());
        let in_normal_dependencies =
            CONFORMING.replace("serde.workspace = true", "tenancy-core = { path = \".\" }");
        assert_eq!(problems(&in_normal_dependencies).len(), 1);
    }

    #[test]
    fn finds_statuses_chosen_outside_the_problem_module() {
        let source = r#"
use poem::http::StatusCode;

fn a() -> ApiError {
    ApiError::new(ProblemCode::BadRequest, "x")
}

fn b() -> ApiError {
    ApiError::retry_later(
        429,
        ProblemCode::RateLimited,
        1,
    )
}

fn c(status: StatusCode) -> bool {
    status == StatusCode::NOT_FOUND || status == StatusCode::from_u16(503).unwrap()
}
"#;
        let found = status_problems(source);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("5: `ApiError::new(`"), "{found:?}");
        assert!(found[1].starts_with("9: the status 429"), "{found:?}");
        assert!(
            found[2].starts_with("17: `StatusCode::NOT_FOUND`"),
            "{found:?}"
        );
        assert!(
            found[3].starts_with("17: `StatusCode::from_u16(503)`"),
            "{found:?}"
        );
    }

    #[test]
    fn leaves_success_statuses_comments_strings_and_tests_alone() {
        let source = r#"
// Never call `ApiError::new(404, ...)` here.
/* StatusCode::NOT_FOUND */
fn page(fresh: bool) -> Response {
    let quote = '"';
    let status = if fresh { StatusCode::NOT_MODIFIED } else { StatusCode::OK };
    let _ = ApiError::invalid("limit", "StatusCode::BAD_REQUEST or ApiError::new(");
    let _ = ApiError::retry_later(ProblemCode::Unavailable, "busy", 503);
    let _ = StatusCode::from_u16(304);
    respond(status, quote)
}

#[cfg(test)]
mod tests {
    fn t(response: Response) {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
"#;
        assert_eq!(status_problems(source), Vec::<String>::new());
    }

    #[test]
    fn the_http_sources_choose_no_status_outside_the_problem_module() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(http_status_problems(&root).unwrap(), Vec::<String>::new());
    }
}
