//! A JSON request body that tells malformed JSON (400 `bad_request`) from
//! well-formed JSON with invalid values (422 `validation_failed`).

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};

use crate::problem::ApiError;

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
        let data = Vec::<u8>::from_request(request, body).await?;
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
        let value = T::parse_from_json(Some(value)).map_err(|e| {
            let message = e.into_message();
            let field = field_of(&message).unwrap_or("body").to_owned();
            ApiError::invalid(&field, message)
        })?;
        Ok(Self(value))
    }
}

/// poem-openapi names the field in its message: `failed to parse "T": field
/// `email`: ...` or `... "email" is required`. Pick it out for `errors[].field`.
fn field_of(message: &str) -> Option<&str> {
    let start = message.find("field `")? + "field `".len();
    let end = message[start..].find('`')?;
    Some(&message[start..start + end])
}

use poem::FromRequest;

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
