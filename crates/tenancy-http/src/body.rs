//! A JSON request body that tells malformed JSON (400 `bad_request`) from
//! well-formed JSON with invalid values (422 `validation_failed`).

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use tokio::io::AsyncReadExt as _;

use crate::problem::{ApiError, FieldError};

/// The largest JSON body read: far above any valid request (a report
/// definition is at most 64 KiB, credentials at most 32 × 8 KiB), so that a
/// client cannot make the server buffer an unbounded body.
pub(crate) const JSON_MAX_BYTES: u64 = 1024 * 1024;

/// A JSON body of `T`.
#[derive(Debug, Clone)]
pub(crate) struct JsonBody<T>(pub T);

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
        let mut data = Vec::new();
        body.take()?
            .into_async_read()
            .take(JSON_MAX_BYTES + 1)
            .read_to_end(&mut data)
            .await
            .map_err(|e| {
                ApiError::new(
                    400,
                    "bad_request",
                    format!("the request body broke off: {e}"),
                )
            })?;
        if data.len() as u64 > JSON_MAX_BYTES {
            return Err(ApiError::new(
                413,
                "payload_too_large",
                format!("a JSON body may have at most {JSON_MAX_BYTES} bytes"),
            )
            .into());
        }
        if data.is_empty() {
            return Err(ApiError::new(400, "bad_request", "the request body is empty").into());
        }
        let value: serde_json::Value = serde_json::from_slice(&data).map_err(|e| {
            ApiError::new(
                400,
                "bad_request",
                format!("the request body is not JSON: {e}"),
            )
        })?;
        let problems = field_errors::<T>(&value);
        if !problems.is_empty() {
            return Err(ApiError::validation(problems).into());
        }
        let value = T::parse_from_json(Some(value))
            .map_err(|e| ApiError::invalid("body", e.into_message()))?;
        Ok(Self(value))
    }
}

/// What is wrong with the fields of `value` by `T`'s schema: required fields
/// that are missing or `null`, and fields of the wrong JSON type (poem-openapi
/// alone would read `42` as the string `"42"`). Each error names its field.
fn field_errors<T: Type>(value: &serde_json::Value) -> Vec<FieldError> {
    use poem_openapi::registry::MetaSchemaRef;
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
                // A reference names a registered schema: an object, or an
                // enum of strings.
                let expected = match property {
                    MetaSchemaRef::Inline(inline) => inline.ty,
                    MetaSchemaRef::Reference(name) => registry
                        .schemas
                        .get(name.as_str())
                        .map_or("object", |schema| schema.ty),
                };
                let fits = match expected {
                    "string" => found.is_string(),
                    "integer" => found.is_i64() || found.is_u64(),
                    "number" => found.is_number(),
                    "boolean" => found.is_boolean(),
                    "array" => found.is_array(),
                    "object" => found.is_object(),
                    _ => true,
                };
                if !fits {
                    errors.push(FieldError {
                        field: (*field).to_owned(),
                        message: format!("must be of type {expected}"),
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
            Some(content_type) => Err(ApiError::new(
                400,
                "bad_request",
                format!(
                    "the content type `{content_type}` is not supported; send application/json"
                ),
            )
            .into()),
            None => Err(ApiError::new(
                400,
                "bad_request",
                "the request has no content type; send application/json",
            )
            .into()),
        }
    }
}
