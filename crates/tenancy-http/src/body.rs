//! A JSON request body that tells malformed JSON (400 `bad_request`) from
//! well-formed JSON with invalid values (422 `validation_failed`).
//!
//! The body is read when the request is extracted, but what is wrong with it
//! is kept until the handler asks with [`JsonBody::value`]: handlers
//! authenticate and authorize first, so that a caller without a valid token
//! gets 401 whatever its body, and a non-member learns nothing from a 422.

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use tokio::io::AsyncReadExt as _;

use crate::problem::{ApiError, FieldError};

/// The largest JSON body read: above any valid request but for the most
/// contrived (a report definition is at most 64 KiB; credentials are at most
/// 32 × 8,192 characters, which only four-byte characters bring near it), so
/// that a client cannot make the server buffer an unbounded body.
pub(crate) const JSON_MAX_BYTES: u64 = 1024 * 1024;

/// A JSON body of `T`, or why it is not one.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(Result<T, ApiError>);

impl<T> JsonBody<T> {
    /// The body, or the problem with it (400, 413 or 422); called after
    /// authentication and authorization.
    pub(crate) fn value(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let _ = request;
        Ok(Self(read_json(body).await))
    }
}

/// Collects field errors so that a request learns everything wrong at once.
#[derive(Default)]
pub(crate) struct Fields(Vec<FieldError>);

impl Fields {
    pub(crate) fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        parsed: Result<T, E>,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    message: error.to_string(),
                });
                None
            }
        }
    }

    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// Reads and checks a JSON body of `T`.
async fn read_json<T: ParseFromJSON>(body: &mut RequestBody) -> Result<T, ApiError> {
    {
        let taken = body
            .take()
            .map_err(|_| ApiError::bad_request("the request body was already read"))?;
        let mut data = Vec::new();
        taken
            .into_async_read()
            .take(JSON_MAX_BYTES + 1)
            .read_to_end(&mut data)
            .await
            .map_err(|e| ApiError::bad_request(format!("the request body broke off: {e}")))?;
        if data.len() as u64 > JSON_MAX_BYTES {
            return Err(ApiError::payload_too_large(format!(
                "a JSON body may have at most {JSON_MAX_BYTES} bytes"
            )));
        }
        if data.is_empty() {
            return Err(ApiError::bad_request("the request body is empty"));
        }
        let value: serde_json::Value = serde_json::from_slice(&data)
            .map_err(|e| ApiError::bad_request(format!("the request body is not JSON: {e}")))?;
        let problems = field_errors::<T>(&value);
        if !problems.is_empty() {
            return Err(ApiError::validation(problems));
        }
        T::parse_from_json(Some(value)).map_err(|e| ApiError::invalid("body", e.into_message()))
    }
}

/// How `value` breaks `schema`, if it does: its JSON type, and for arrays
/// and maps the type of each element, so that `{"credentials": {"k": 42}}`
/// is refused instead of read as the string `"42"`.
fn mismatch(
    value: &serde_json::Value,
    schema: &poem_openapi::registry::MetaSchemaRef,
    registry: &Registry,
    depth: usize,
) -> Option<String> {
    use poem_openapi::registry::MetaSchemaRef;
    // Request bodies are shallow; the bound keeps a recursive schema finite.
    if depth > 8 {
        return None;
    }
    let schema = match schema {
        MetaSchemaRef::Inline(inline) => inline.as_ref(),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name.as_str())?,
    };
    if value.is_null() {
        // An untyped schema (`{}`, a report definition's values) takes any
        // JSON value, `null` included.
        let takes_null = schema.nullable || schema.ty.is_empty();
        return (!takes_null && depth > 0).then(|| "must not be null".to_owned());
    }
    // A patched field (a description, `nullable`) is the original schema in `allOf`.
    for part in &schema.all_of {
        if let Some(message) = mismatch(value, part, registry, depth + 1) {
            return Some(message);
        }
    }
    let fits = match schema.ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !fits {
        return Some(format!("must be of type {}", schema.ty));
    }
    if let (Some(items), Some(array)) = (&schema.items, value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            if let Some(message) = mismatch(item, items, registry, depth + 1) {
                return Some(format!("item {index}: {message}"));
            }
        }
    }
    if let (Some(values), Some(map)) = (&schema.additional_properties, value.as_object()) {
        for (key, item) in map {
            if let Some(message) = mismatch(item, values, registry, depth + 1) {
                return Some(format!("`{key}`: {message}"));
            }
        }
    }
    None
}

/// What is wrong with the fields of `value` by `T`'s schema: required fields
/// that are missing or `null`, and fields of the wrong JSON type (poem-openapi
/// alone would read `42` as the string `"42"`). Each error names its field.
fn field_errors<T: Type>(value: &serde_json::Value) -> Vec<FieldError> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let Some(schema) = registry.schemas.get(&*T::name()) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for (field, property) in &schema.properties {
        match value.get(field) {
            None | Some(serde_json::Value::Null) => {
                if schema.required.contains(field) {
                    errors.push(FieldError {
                        field: (*field).to_owned(),
                        message: "is required".to_owned(),
                    });
                }
            }
            Some(found) => {
                if let Some(message) = mismatch(found, property, &registry, 0) {
                    errors.push(FieldError {
                        field: (*field).to_owned(),
                        message,
                    });
                }
            }
        }
    }
    errors
}

impl<'a, T: ParseFromJSON> poem_openapi::ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [poem_openapi::ApiExtractorType] =
        &[poem_openapi::ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Ok(Self(Err(ApiError::bad_request(format!(
                "the content type `{content_type}` is not supported; send application/json"
            ))))),
            None => Ok(Self(Err(ApiError::bad_request(
                "the request has no content type; send application/json",
            )))),
        }
    }
}
