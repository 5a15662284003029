//! `cargo xtask codegen`: the committed files that are generated from code.
//!
//! They are committed so that they can be read and reviewed without building anything;
//! a test (`xtask/tests/codegen.rs`) fails when one of them is stale.
//!
//! The typed client (`crates/tenancy-client/src/generated.rs`) is generated from `docs/openapi.json`,
//! so it is written after the document.

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
            write_openapi(&root)?;
            if write_client(&root)? {
                println!("updated {CLIENT}");
            } else {
                println!("unchanged {CLIENT}");
            }
            Ok(())
        }
        Mode::Check => {
            let stale = stale_files(&root)?;
            if stale.is_empty() {
                println!(
                    "codegen: {} generated files are up to date",
                    GENERATED.len() + 1
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

/// The typed Rust client, relative to the workspace root.
pub const CLIENT: &str = "crates/tenancy-client/src/generated.rs";

/// The OpenAPI document the client is generated from, relative to the workspace root.
pub const OPENAPI: &str = "docs/openapi.json";

/// Writes the client from the committed document unless it is up to date; returns whether it wrote.
pub fn write_client(root: &Path) -> Result<bool, Error> {
    let contents = client_from_file(root)?;
    write_contents_if_stale(&root.join(CLIENT), &contents)
}

fn client_from_file(root: &Path) -> Result<String, Error> {
    let path = root.join(OPENAPI);
    let document = fs::read_to_string(&path)
        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
    generate_client(&document)
}

/// The client's source for an OpenAPI document, as progenitor generates it and prettyplease prints it.
pub fn generate_client(document: &str) -> Result<String, Error> {
    let mut document: serde_json::Value = serde_json::from_str(document)
        .map_err(|error| format!("`{OPENAPI}` is not JSON: {error}"))?;
    to_openapi_3_0(&mut document);
    loosen_subset_patterns(&mut document);
    let mut spec: openapiv3::OpenAPI = serde_json::from_value(document)
        .map_err(|error| format!("`{OPENAPI}` is not an OpenAPI 3.0 document: {error}"))?;
    adapt_for_progenitor(&mut spec);
    let mut settings = progenitor::GenerationSettings::new();
    settings
        .with_interface(progenitor::InterfaceStyle::Positional)
        .with_tag(progenitor::TagStyle::Merged);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec).map_err(|error| {
        format!("progenitor cannot generate a client from `{OPENAPI}`: {error}")
    })?;
    let file: syn::File = syn::parse2(tokens)
        .map_err(|error| format!("progenitor generated code that does not parse: {error}"))?;
    Ok(format!(
        "// @generated by `cargo xtask codegen` from {OPENAPI} with progenitor; do not edit.\n\n{}",
        prettyplease::unparse(&file)
    ))
}

/// The served document is OpenAPI 3.1 and progenitor reads 3.0 only (its `openapiv3` types), so the
/// document is written down to 3.0 in memory, keeping what 3.0 can say and dropping what it cannot:
///
/// - `"type": [T, "null"]` becomes `"type": T` with `nullable: true` (a 3.1 type array of one type
///   and `null` is the only kind the document has);
/// - `propertyNames` goes (3.0 has no way to constrain a map's keys; the client checks none, the
///   server still does);
/// - `contains` goes (3.0 cannot ask an array to hold some item, as a role's capabilities hold
///   `view_resources`; the server still does);
/// - the licence's SPDX `identifier` goes (3.0's licence has a name and a URL only).
///
/// A 3.0 document passes through unchanged but for its version.
pub fn to_openapi_3_0(document: &mut serde_json::Value) {
    fn schemas(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(object) => {
                object.remove("propertyNames");
                object.remove("contains");
                if let Some(serde_json::Value::Array(types)) = object.get("type") {
                    let nullable = types.iter().any(|t| t == "null");
                    let others: Vec<serde_json::Value> =
                        types.iter().filter(|t| *t != "null").cloned().collect();
                    if let [single] = others.as_slice() {
                        let single = single.clone();
                        object.insert("type".to_owned(), single);
                        if nullable {
                            object.insert("nullable".to_owned(), serde_json::Value::Bool(true));
                        }
                    }
                }
                object.values_mut().for_each(schemas);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(schemas),
            _ => {}
        }
    }
    document["openapi"] = serde_json::json!("3.0.3");
    if let Some(license) = document
        .pointer_mut("/info/license")
        .and_then(serde_json::Value::as_object_mut)
    {
        license.remove("identifier");
    }
    schemas(document);
}

/// The extension that marks a pattern as a subset of what the server takes (an email address in its
/// ASCII form, where the server also takes Unicode forms it normalizes; a cron expression in its
/// numeric form). The document names it in `tenancy_http::openapi::SUBSET`.
pub const SUBSET: &str = "x-tenancy-pattern-is-subset";

/// Drops the patterns marked [`SUBSET`]: progenitor turns a pattern into a newtype that refuses what
/// does not match, so the client would refuse `ＡLICE@Exämple.test`, which the server takes. The
/// field stays a string (with its length limit) and the server judges it.
pub fn loosen_subset_patterns(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            if object.remove(SUBSET) == Some(serde_json::Value::Bool(true)) {
                object.remove("pattern");
            }
            object.values_mut().for_each(loosen_subset_patterns);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(loosen_subset_patterns),
        _ => {}
    }
}

/// What progenitor 0.15 cannot read in the document as it is, worked around in memory (the committed
/// document stays what the server serves).
///
/// - It decodes only `application/json` responses; `application/problem+json` is JSON too (RFC 9457),
///   so the problems are declared to it as `application/json` and come back typed as `types::Problem`.
///   The generated code decodes a response body whatever its `Content-Type` header says.
/// - It accepts no `multipart/form-data` request body, so the operations taking one (the knowledge
///   file upload) are left out of the client; a caller uploads with reqwest's multipart form.
fn adapt_for_progenitor(spec: &mut openapiv3::OpenAPI) {
    for (_, item) in spec.paths.paths.iter_mut() {
        let openapiv3::ReferenceOr::Item(item) = item else {
            continue;
        };
        for method in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ] {
            let takes_multipart = method.as_ref().is_some_and(|operation| {
                matches!(
                    &operation.request_body,
                    Some(openapiv3::ReferenceOr::Item(body))
                        if body.content.keys().any(|media| media.starts_with("multipart/"))
                )
            });
            if takes_multipart {
                *method = None;
                continue;
            }
            let Some(operation) = method else {
                continue;
            };
            let responses = operation
                .responses
                .default
                .iter_mut()
                .chain(operation.responses.responses.values_mut());
            for response in responses {
                if let openapiv3::ReferenceOr::Item(response) = response
                    && let Some(problem) = response.content.shift_remove("application/problem+json")
                {
                    response
                        .content
                        .insert("application/json".to_owned(), problem);
                }
            }
        }
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
    if read_if_present(&root.join(CLIENT))? != Some(client_from_file(root)?) {
        stale.push(CLIENT);
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
    write_contents_if_stale(&root.join(file.path), &(file.generate)())
}

fn write_contents_if_stale(path: &Path, contents: &str) -> Result<bool, Error> {
    if read_if_present(path)?.as_deref() == Some(contents) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create `{}`: {error}", parent.display()))?;
    }
    fs::write(path, contents)
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

    /// A document with what progenitor cannot read: a multipart upload and problem responses.
    const DOCUMENT: &str = r##"{
      "openapi": "3.0.0",
      "info": {"title": "t", "version": "1"},
      "paths": {
        "/things": {
          "get": {
            "operationId": "listThings",
            "responses": {
              "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "string"}}}},
              "403": {"description": "no", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }
          },
          "post": {
            "operationId": "uploadThing",
            "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}},
            "responses": {"201": {"description": "ok"}}
          }
        }
      },
      "components": {"schemas": {"Problem": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}}}
    }"##;

    #[test]
    fn the_client_decodes_problems_and_leaves_out_multipart_uploads() {
        let source = generate_client(DOCUMENT).unwrap();
        assert!(source.starts_with("// @generated"), "{source}");
        assert!(source.contains("pub async fn list_things"), "{source}");
        assert!(
            source.contains("Error<types::Problem>"),
            "the 403 is not typed: {source}"
        );
        assert!(!source.contains("upload_thing"), "{source}");
    }

    #[test]
    fn a_3_1_document_is_written_down_to_3_0() {
        let mut document = serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1", "license": {"name": "MIT", "identifier": "MIT"}},
            "components": {"schemas": {
                "A": {"type": "object", "properties": {
                    "name": {"type": ["string", "null"], "enum": ["x", null]},
                    "count": {"type": ["integer"]},
                    "keys": {"type": "object", "propertyNames": {"pattern": "^a$"},
                             "additionalProperties": {"type": "string"}},
                    "set": {"type": "array", "items": {"type": "string"},
                            "contains": {"const": "x"}},
                }},
            }},
        });
        to_openapi_3_0(&mut document);
        assert_eq!(
            document,
            serde_json::json!({
                "openapi": "3.0.3",
                "info": {"title": "t", "version": "1", "license": {"name": "MIT"}},
                "components": {"schemas": {
                    "A": {"type": "object", "properties": {
                        "name": {"type": "string", "nullable": true, "enum": ["x", null]},
                        "count": {"type": "integer"},
                        "keys": {"type": "object", "additionalProperties": {"type": "string"}},
                        "set": {"type": "array", "items": {"type": "string"}},
                    }},
                }},
            })
        );
    }

    #[test]
    fn subset_patterns_are_left_to_the_server() {
        let mut schema = serde_json::json!({
            "properties": {
                "email": {"type": "string", "maxLength": 254, "pattern": "^a$", SUBSET: true},
                "name": {"type": "string", "pattern": "^b$"},
            }
        });
        loosen_subset_patterns(&mut schema);
        assert_eq!(
            schema,
            serde_json::json!({
                "properties": {
                    "email": {"type": "string", "maxLength": 254},
                    "name": {"type": "string", "pattern": "^b$"},
                }
            })
        );
        // The committed document marks its subset patterns with this very name.
        let document = fs::read_to_string(project_root().join(OPENAPI)).unwrap();
        assert!(
            document.contains(&format!("\"{SUBSET}\": true")),
            "no `{SUBSET}` in {OPENAPI}"
        );
    }

    #[test]
    fn a_document_progenitor_rejects_is_an_error_that_names_it() {
        let document = DOCUMENT.replace("\"operationId\": \"listThings\",", "");
        let error = generate_client(&document).unwrap_err().to_string();
        assert!(error.contains("progenitor cannot generate"), "{error}");
        assert!(error.contains("missing operation ID"), "{error}");
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
