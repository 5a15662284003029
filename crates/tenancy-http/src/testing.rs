//! Tests' help: a validator of real responses against the served OpenAPI document.
//!
//! A generated client trusts the document, so every response that a test receives is checked against it: the
//! operation that the method and path name, a status that operation declares, a content type it declares for that
//! status, a body that validates against that content's schema, and the response headers it marks required.
//! A path that no operation has must answer a problem with 404, a method that the path lacks a problem with 405 and
//! an `Allow` header, since a client meets those too.
//!
//! The schemas are checked by the `jsonschema` crate rather than by a validator of our own: the document is growing
//! constraints (`pattern`, `maxLength`, enums, formats), and a full JSON Schema implementation checks each of them
//! as a client's validator would, where a subset written here would silently pass whatever it does not know.
//! OpenAPI 3.0 schemas are converted first (see [`json_schema`]); 3.1 schemas are JSON Schema 2020-12 already.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use jsonschema::Validator;
use serde_json::{Map, Value, json};

use crate::console;

/// One response as a client received it, with the request that it answers.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// The request's method, in any case.
    pub method: &'a str,
    /// The request's path as sent, query string and all.
    pub path: &'a str,
    pub status: u16,
    /// The response's headers; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl Exchange<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Why the document could not be turned into a validator.
#[derive(Debug)]
pub struct DocumentError(String);

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DocumentError {}

/// A response that breaks the document: which operation, which status, and each error with its JSON pointer.
#[derive(Debug)]
pub struct Mismatch {
    /// `GET /v1/organizations/{org_id} (getOrganization)`, or the request as sent when no operation matches.
    pub operation: String,
    pub status: u16,
    /// One line per error, each naming the JSON pointer into the body where there is one.
    pub errors: Vec<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the response {} to {} breaks the OpenAPI document:",
            self.status, self.operation
        )?;
        for error in &self.errors {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Mismatch {}

/// The document's responses, with their schemas compiled once.
pub struct ResponseValidator {
    /// Path templates, the most specific first (more literal segments), so that `/v1/invitations/accept` wins
    /// over `/v1/invitations/{token}`.
    paths: Vec<PathItem>,
    /// The problem schema, for answers to paths and methods the document does not have.
    problem: Option<Arc<Validator>>,
}

struct PathItem {
    template: String,
    segments: Vec<Segment>,
    /// By lower-case method.
    operations: BTreeMap<String, Operation>,
}

enum Segment {
    Literal(String),
    Parameter,
}

struct Operation {
    name: String,
    /// By the document's key: `"200"`, `"4XX"` or `"default"`.
    responses: BTreeMap<String, Response>,
}

struct Response {
    /// Media type ranges as written (`application/json; charset=utf-8`, `*/*`), each with its compiled schema.
    content: Vec<(String, Option<Arc<Validator>>)>,
    required_headers: Vec<String>,
}

impl fmt::Debug for ResponseValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseValidator")
            .field("paths", &self.paths.len())
            .finish_non_exhaustive()
    }
}

impl ResponseValidator {
    /// Reads the document (OpenAPI 3.0 or 3.1, as JSON) and compiles every response schema.
    pub fn new(document: &str) -> Result<Self, DocumentError> {
        let document: Value = serde_json::from_str(document)
            .map_err(|error| DocumentError(format!("the document is not JSON: {error}")))?;
        let version = document["openapi"].as_str().unwrap_or_default();
        let is_30 = version.starts_with("3.0");
        if !is_30 && !version.starts_with("3.1") {
            return Err(DocumentError(format!(
                "unsupported OpenAPI version `{version}`"
            )));
        }
        let mut compiler = Compiler::new(&document, is_30);
        let mut paths = Vec::new();
        let empty = Map::new();
        for (template, item) in document["paths"].as_object().unwrap_or(&empty) {
            let mut operations = BTreeMap::new();
            for (method, operation) in item.as_object().unwrap_or(&empty) {
                if !HTTP_METHODS.contains(&method.as_str()) {
                    continue;
                }
                let name = match operation["operationId"].as_str() {
                    Some(id) => format!("{} {template} ({id})", method.to_ascii_uppercase()),
                    None => format!("{} {template}", method.to_ascii_uppercase()),
                };
                let mut responses = BTreeMap::new();
                for (status, response) in operation["responses"].as_object().unwrap_or(&empty) {
                    let response = compiler.resolve(response);
                    let mut content = Vec::new();
                    for (media, entry) in response["content"].as_object().unwrap_or(&empty) {
                        let schema = match entry.get("schema") {
                            Some(schema) => Some(compiler.compile(schema).map_err(|error| {
                                DocumentError(format!("{name} {status} {media}: {error}"))
                            })?),
                            None => None,
                        };
                        content.push((media.clone(), schema));
                    }
                    let required_headers = response["headers"]
                        .as_object()
                        .unwrap_or(&empty)
                        .iter()
                        .filter(|(_, header)| compiler.resolve(header)["required"] == true)
                        .map(|(header, _)| header.clone())
                        .collect();
                    responses.insert(
                        status.clone(),
                        Response {
                            content,
                            required_headers,
                        },
                    );
                }
                operations.insert(method.clone(), Operation { name, responses });
            }
            paths.push(PathItem {
                template: template.clone(),
                segments: segments(template),
                operations,
            });
        }
        paths.sort_by_key(|item| {
            std::cmp::Reverse(
                item.segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count(),
            )
        });
        let problem = match document.pointer("/components/schemas/Problem") {
            Some(_) => Some(
                compiler
                    .compile(&json!({"$ref": "#/components/schemas/Problem"}))
                    .map_err(|error| DocumentError(format!("the Problem schema: {error}")))?,
            ),
            None => None,
        };
        Ok(Self { paths, problem })
    }

    /// Whether the document leaves `path` out on purpose: the console's pages and assets, Swagger UI and the
    /// document itself.
    pub fn is_outside_document(path: &str) -> bool {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if path == "/openapi.json" || path == "/docs" || path.starts_with("/docs/") {
            return true;
        }
        if path.starts_with("/console/") {
            return true;
        }
        // The console's pages, a `:token` segment standing for any one segment.
        console::PAGES
            .iter()
            .chain([&console::INVITATION_PAGE])
            .any(|page| page_matches(page, path))
    }

    /// Checks one response; paths outside the document pass unchecked.
    pub fn check(&self, exchange: &Exchange<'_>) -> Result<(), Mismatch> {
        if Self::is_outside_document(exchange.path) {
            return Ok(());
        }
        let path = exchange.path.split(['?', '#']).next().unwrap_or_default();
        let method = exchange.method.to_ascii_lowercase();
        let mut errors = Vec::new();
        let Some(item) = self.paths.iter().find(|item| item.matches(path)) else {
            let operation = format!("{} {path} (no such path in the document)", exchange.method);
            self.check_fallback(exchange, 404, &mut errors);
            return finish(operation, exchange.status, errors);
        };
        let Some(operation) = item.operations.get(&method) else {
            let operation = format!(
                "{} {} (no such method in the document)",
                exchange.method, item.template
            );
            self.check_fallback(exchange, 405, &mut errors);
            if exchange.status == 405 {
                check_allow(exchange, item, &mut errors);
            }
            return finish(operation, exchange.status, errors);
        };
        let status = exchange.status.to_string();
        let range = format!("{}XX", exchange.status / 100);
        let declared = operation
            .responses
            .get(&status)
            .or_else(|| operation.responses.get(&range))
            .or_else(|| operation.responses.get(&range.to_ascii_lowercase()))
            .or_else(|| operation.responses.get("default"));
        let Some(response) = declared else {
            let known: Vec<&str> = operation.responses.keys().map(String::as_str).collect();
            errors.push(format!(
                "status {} is not declared (the operation declares {})",
                exchange.status,
                known.join(", ")
            ));
            return finish(operation.name.clone(), exchange.status, errors);
        };
        for header in &response.required_headers {
            if exchange.header(header).is_none() {
                errors.push(format!("the required header `{header}` is missing"));
            }
        }
        check_content(exchange, &response.content, &mut errors);
        finish(operation.name.clone(), exchange.status, errors)
    }

    /// Checks one response for a test: a mismatch panics, failing the test with its message.
    ///
    /// With `TENANCY_TEST_MISMATCH_LOG=FILE` each mismatch is appended to FILE instead, named by the test (its
    /// thread's name), so that one run of a suite lists every mismatch rather than the first of each test.
    #[expect(
        clippy::panic,
        reason = "this is the tests' assertion: a panic is how a mismatch fails the test that received the response"
    )]
    #[track_caller]
    pub fn assert_conforms(&self, exchange: &Exchange<'_>) {
        let Err(mismatch) = self.check(exchange) else {
            return;
        };
        let Some(log) = std::env::var_os("TENANCY_TEST_MISMATCH_LOG") else {
            panic!("{mismatch}");
        };
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed thread")
            .to_owned();
        // One write per mismatch, so that parallel tests do not interleave their lines.
        let logged = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, format!("[{test}] {mismatch}\n").as_bytes())
            });
        if let Err(error) = logged {
            panic!(
                "{mismatch}\n(and it could not be logged to `{}`: {error})",
                log.display()
            );
        }
    }

    /// The answer to a path or method that the document lacks: `status`, as a problem.
    fn check_fallback(&self, exchange: &Exchange<'_>, status: u16, errors: &mut Vec<String>) {
        if exchange.status != status {
            errors.push(format!(
                "only {status} can answer a request the document does not describe"
            ));
            return;
        }
        let content = vec![("application/problem+json".to_owned(), self.problem.clone())];
        check_content(exchange, &content, errors);
    }
}

fn finish(operation: String, status: u16, errors: Vec<String>) -> Result<(), Mismatch> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Mismatch {
            operation,
            status,
            errors,
        })
    }
}

/// RFC 9110 §15.5.6: a 405 lists the methods the resource has.
fn check_allow(exchange: &Exchange<'_>, item: &PathItem, errors: &mut Vec<String>) {
    let Some(allow) = exchange.header("allow") else {
        errors.push("a 405 without an `Allow` header (RFC 9110 requires one)".to_owned());
        return;
    };
    let listed: Vec<String> = allow
        .split(',')
        .map(|method| method.trim().to_ascii_lowercase())
        .collect();
    for method in item.operations.keys() {
        if !listed.contains(method) {
            errors.push(format!(
                "the `Allow` header `{allow}` lacks {}",
                method.to_ascii_uppercase()
            ));
        }
    }
}

/// The content type among those declared, and the body against its schema.
fn check_content(
    exchange: &Exchange<'_>,
    content: &[(String, Option<Arc<Validator>>)],
    errors: &mut Vec<String>,
) {
    let content_type = exchange.header("content-type");
    if content.is_empty() {
        if !exchange.body.is_empty() {
            errors.push(format!(
                "a body ({} bytes, `{}`) where the document declares none",
                exchange.body.len(),
                content_type.unwrap_or("no content type")
            ));
        }
        return;
    }
    let Some(content_type) = content_type else {
        let declared: Vec<&str> = content.iter().map(|(media, _)| media.as_str()).collect();
        errors.push(format!(
            "no content type, where the document declares {}",
            declared.join(", ")
        ));
        return;
    };
    let Some((media, schema)) = content
        .iter()
        .find(|(media, _)| media_matches(media, content_type))
    else {
        let declared: Vec<&str> = content.iter().map(|(media, _)| media.as_str()).collect();
        errors.push(format!(
            "the content type `{content_type}` is not declared (the document declares {})",
            declared.join(", ")
        ));
        return;
    };
    let Some(schema) = schema else {
        return;
    };
    let essence = essence(content_type);
    let instance = if essence == "application/json" || essence.ends_with("+json") {
        match serde_json::from_slice::<Value>(exchange.body) {
            Ok(value) => value,
            Err(error) => {
                errors.push(format!("the body is not JSON ({error}), yet `{media}`"));
                return;
            }
        }
    } else if essence.starts_with("text/") {
        // A text body is a JSON string to the schema, so that its `maxLength` or `enum` still apply.
        Value::String(String::from_utf8_lossy(exchange.body).into_owned())
    } else {
        // Bytes (`format: binary`) have no structure for a schema to check.
        return;
    };
    for error in schema.iter_errors(&instance) {
        let pointer = error.instance_path().to_string();
        let mut message = error.to_string();
        if message.len() > 300 {
            let cut = (0..=300)
                .rev()
                .find(|&at| message.is_char_boundary(at))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        errors.push(format!(
            "body at `{}` (schema `{}`): {message}",
            if pointer.is_empty() { "/" } else { &pointer },
            error.schema_path()
        ));
    }
}

/// `type/subtype` in lower case, parameters dropped.
fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether a declared media range (`*/*`, `text/*`, `application/json; charset=utf-8`) covers a response's
/// content type; parameters are compared only when both sides name the same one.
fn media_matches(declared: &str, actual: &str) -> bool {
    let (want, have) = (essence(declared), essence(actual));
    let type_matches = match want.split_once('/') {
        Some(("*", "*")) => true,
        Some((kind, "*")) => have.split_once('/').is_some_and(|(k, _)| k == kind),
        _ => want == have,
    };
    type_matches
        && parameters(declared).iter().all(|(name, value)| {
            parameters(actual)
                .iter()
                .find(|(n, _)| n == name)
                .is_none_or(|(_, v)| v == value)
        })
}

fn parameters(media: &str) -> Vec<(String, String)> {
    media
        .split(';')
        .skip(1)
        .filter_map(|parameter| parameter.split_once('='))
        .map(|(name, value)| {
            (
                name.trim().to_ascii_lowercase(),
                value.trim().trim_matches('"').to_ascii_lowercase(),
            )
        })
        .collect()
}

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn segments(template: &str) -> Vec<Segment> {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                Segment::Parameter
            } else {
                Segment::Literal(segment.to_owned())
            }
        })
        .collect()
}

impl PathItem {
    fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        parts.len() == self.segments.len()
            && parts
                .iter()
                .zip(&self.segments)
                .all(|(part, segment)| match segment {
                    Segment::Literal(literal) => literal == part,
                    Segment::Parameter => !part.is_empty(),
                })
    }
}

/// Compiles response schemas against the document's components, each distinct schema once.
struct Compiler {
    /// The components' schemas, converted to JSON Schema, under the same pointer as in the document so that
    /// `#/components/schemas/X` resolves unchanged.
    components: Value,
    /// The document as read, for response and header `$ref`s.
    document: Value,
    is_30: bool,
    compiled: HashMap<String, Arc<Validator>>,
}

impl Compiler {
    fn new(document: &Value, is_30: bool) -> Self {
        let schemas = document
            .pointer("/components/schemas")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let schemas = if is_30 {
            json_schema(&schemas, true)
        } else {
            schemas
        };
        Self {
            components: json!({ "schemas": schemas }),
            document: document.clone(),
            is_30,
            compiled: HashMap::new(),
        }
    }

    /// A response or header object, following its `$ref` within the document.
    fn resolve(&self, object: &Value) -> Value {
        let mut object = object.clone();
        for _ in 0..8 {
            let Some(target) = object["$ref"].as_str() else {
                break;
            };
            let Some(found) = target
                .strip_prefix('#')
                .and_then(|pointer| self.document.pointer(pointer))
            else {
                break;
            };
            object = found.clone();
        }
        object
    }

    fn compile(&mut self, schema: &Value) -> Result<Arc<Validator>, String> {
        let schema = if self.is_30 {
            json_schema(schema, false)
        } else {
            schema.clone()
        };
        let key = schema.to_string();
        if let Some(validator) = self.compiled.get(&key) {
            return Ok(validator.clone());
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": self.components,
        });
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .map_err(|error| error.to_string())?;
        let validator = Arc::new(validator);
        self.compiled.insert(key, validator.clone());
        Ok(validator)
    }
}

/// An OpenAPI 3.0 schema as JSON Schema 2020-12.
///
/// - `nullable: true` adds `null` to `type` (and to `enum`) only where `type` is written beside it, as OpenAPI 3.0.3
///   specifies: `nullable` next to a bare `allOf` allows no `null`, which is what a 3.0 client's validator does.
/// - A `$ref` stands alone: 3.0 ignores its siblings.
/// - Boolean `exclusiveMinimum`/`exclusiveMaximum` (JSON Schema draft 4) become the numeric form.
/// - `example` and the other annotations are left in place; 2020-12 ignores unknown keywords.
///
/// `is_map` says that `value` maps names to schemas (`properties`, `components/schemas`) instead of being a schema.
pub fn json_schema(value: &Value, is_map: bool) -> Value {
    let Some(object) = value.as_object() else {
        return value.clone();
    };
    if is_map {
        return Value::Object(
            object
                .iter()
                .map(|(name, schema)| (name.clone(), json_schema(schema, false)))
                .collect(),
        );
    }
    if let Some(target) = object.get("$ref") {
        return json!({ "$ref": target });
    }
    let mut out = Map::new();
    for (keyword, inner) in object {
        let converted = match keyword.as_str() {
            "properties" | "patternProperties" => json_schema(inner, true),
            "items" | "additionalProperties" | "not" => json_schema(inner, false),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                inner
                    .as_array()
                    .map(|schemas| schemas.iter().map(|s| json_schema(s, false)).collect())
                    .unwrap_or_default(),
            ),
            "nullable" | "exclusiveMinimum" | "exclusiveMaximum" => continue,
            _ => inner.clone(),
        };
        out.insert(keyword.clone(), converted);
    }
    if object.get("nullable") == Some(&Value::Bool(true))
        && let Some(kind) = out.get("type").cloned()
    {
        let mut kinds = match kind {
            Value::Array(kinds) => kinds,
            kind => vec![kind],
        };
        if !kinds.contains(&json!("null")) {
            kinds.push(json!("null"));
        }
        out.insert("type".to_owned(), Value::Array(kinds));
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match object.get(exclusive) {
            Some(Value::Bool(true)) => {
                if let Some(limit) = out.remove(bound) {
                    out.insert(exclusive.to_owned(), limit);
                }
            }
            Some(number @ Value::Number(_)) => {
                out.insert(exclusive.to_owned(), number.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// Whether `path` is the console page `page`, whose `:name` segments each
/// stand for any one non-empty segment.
fn page_matches(page: &str, path: &str) -> bool {
    let (mut pattern, mut segments) = (page.split('/'), path.split('/'));
    loop {
        match (pattern.next(), segments.next()) {
            (None, None) => return true,
            (Some(p), Some(s)) if p.starts_with(':') && !s.is_empty() => {}
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = r##"{
      "openapi": "3.0.0",
      "paths": {
        "/v1/things/{id}": {
          "get": {
            "operationId": "getThing",
            "responses": {
              "200": {"description": "", "content": {"application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
              "404": {"description": "", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
              "429": {"description": "", "headers": {"Retry-After": {"required": true, "schema": {"type": "integer"}}},
                      "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }
          },
          "delete": {"responses": {"204": {"description": ""}}}
        },
        "/v1/things/special": {"get": {"responses": {"200": {"description": "", "content": {"text/plain": {"schema": {"type": "string", "maxLength": 3}}}}}}}
      },
      "components": {"schemas": {
        "Thing": {"type": "object", "required": ["name", "owner"], "properties": {
          "name": {"type": "string"},
          "owner": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/Owner"}]},
          "note": {"type": "string", "nullable": true},
          "size": {"type": "integer", "format": "int64", "minimum": 0, "exclusiveMinimum": true}
        }},
        "Owner": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "format": "uuid"}}},
        "Problem": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "enum": ["not_found", "forbidden"]}}}
      }}
    }"##;

    fn check(
        method: &str,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(), Mismatch> {
        let validator = ResponseValidator::new(DOCUMENT).unwrap();
        validator.check(&Exchange {
            method,
            path,
            status,
            headers,
            body: body.as_bytes(),
        })
    }

    const JSON: &[(&str, &str)] = &[("content-type", "application/json; charset=utf-8")];
    const PROBLEM: &[(&str, &str)] = &[("Content-Type", "application/problem+json")];
    const OWNER: &str = r#"{"id": "0190d2a8-7c1e-7000-8000-000000000000"}"#;

    #[test]
    fn a_conforming_response_passes() {
        let body = format!(r#"{{"name": "a", "owner": {OWNER}, "note": null, "size": 1}}"#);
        check("GET", "/v1/things/x?y=1", 200, JSON, &body).unwrap();
        check("DELETE", "/v1/things/x", 204, &[], "").unwrap();
    }

    #[test]
    fn a_wrong_body_names_the_operation_status_and_pointer() {
        let body = format!(r#"{{"name": 1, "owner": {OWNER}, "size": 0}}"#);
        let mismatch = check("get", "/v1/things/x", 200, JSON, &body).unwrap_err();
        let text = mismatch.to_string();
        assert!(text.contains("GET /v1/things/{id} (getThing)"), "{text}");
        assert!(text.contains("body at `/name`"), "{text}");
        assert!(text.contains("body at `/size`"), "{text}");
        assert_eq!(mismatch.errors.len(), 2, "{text}");
    }

    #[test]
    fn nullable_beside_a_bare_all_of_forbids_null_as_in_openapi_3_0() {
        let mismatch = check(
            "GET",
            "/v1/things/x",
            200,
            JSON,
            r#"{"name": "a", "owner": null}"#,
        )
        .unwrap_err();
        assert!(mismatch.errors[0].contains("`/owner`"), "{mismatch}");
        let mismatch = check(
            "GET",
            "/v1/things/x",
            200,
            JSON,
            r#"{"name": "a", "owner": {"id": "no"}}"#,
        )
        .unwrap_err();
        assert!(mismatch.errors[0].contains("`/owner/id`"), "{mismatch}");
    }

    #[test]
    fn undeclared_statuses_content_types_and_missing_headers_fail() {
        let undeclared = check(
            "GET",
            "/v1/things/x",
            500,
            PROBLEM,
            r#"{"code": "not_found"}"#,
        )
        .unwrap_err();
        assert!(
            undeclared.errors[0].contains("status 500 is not declared"),
            "{undeclared}"
        );
        let wrong_type =
            check("GET", "/v1/things/x", 404, JSON, r#"{"code": "not_found"}"#).unwrap_err();
        assert!(
            wrong_type.errors[0].contains("is not declared"),
            "{wrong_type}"
        );
        let no_retry = check(
            "GET",
            "/v1/things/x",
            429,
            PROBLEM,
            r#"{"code": "not_found"}"#,
        )
        .unwrap_err();
        assert!(no_retry.errors[0].contains("Retry-After"), "{no_retry}");
        let enum_miss = check(
            "GET",
            "/v1/things/x",
            404,
            PROBLEM,
            r#"{"code": "forbiden"}"#,
        )
        .unwrap_err();
        assert!(enum_miss.errors[0].contains("`/code`"), "{enum_miss}");
        let body_on_204 = check("DELETE", "/v1/things/x", 204, JSON, "{}").unwrap_err();
        assert!(
            body_on_204.errors[0].contains("declares none"),
            "{body_on_204}"
        );
    }

    #[test]
    fn literal_segments_win_and_text_bodies_meet_their_schema() {
        check(
            "GET",
            "/v1/things/special",
            200,
            &[("content-type", "text/plain; charset=utf-8")],
            "abc",
        )
        .unwrap();
        let long = check(
            "GET",
            "/v1/things/special",
            200,
            &[("content-type", "text/plain")],
            "abcd",
        )
        .unwrap_err();
        assert!(long.errors[0].contains("body at `/`"), "{long}");
    }

    #[test]
    fn unknown_paths_and_methods_must_be_404_and_405_problems_with_allow() {
        check(
            "GET",
            "/v1/nothing",
            404,
            PROBLEM,
            r#"{"code": "not_found"}"#,
        )
        .unwrap();
        let wrong = check("GET", "/v1/nothing", 200, JSON, "{}").unwrap_err();
        assert!(wrong.operation.contains("no such path"), "{wrong}");
        let no_allow = check(
            "PUT",
            "/v1/things/x",
            405,
            PROBLEM,
            r#"{"code": "not_found"}"#,
        )
        .unwrap_err();
        assert!(no_allow.errors[0].contains("Allow"), "{no_allow}");
        let headers = [
            ("content-type", "application/problem+json"),
            ("allow", "GET, DELETE"),
        ];
        check(
            "PUT",
            "/v1/things/x",
            405,
            &headers,
            r#"{"code": "not_found"}"#,
        )
        .unwrap();
    }

    #[test]
    fn the_console_docs_and_document_are_outside() {
        for path in [
            "/",
            "/signin",
            "/settings/billing",
            "/invitations/abc",
            "/verify-email/abc",
            "/reset-password/abc",
            "/account",
            "/console/console.js",
            "/docs",
            "/docs/x",
            "/openapi.json",
        ] {
            assert!(ResponseValidator::is_outside_document(path), "{path}");
        }
        for path in [
            "/v1/me",
            "/healthz",
            "/invitations/a/b",
            "/invitations/",
            "/verify-email",
            "/reset-password/a/b",
            "/v1/auth/verify-email",
            "/nowhere",
        ] {
            assert!(!ResponseValidator::is_outside_document(path), "{path}");
        }
    }
}
