//! A multipart upload of one `file` part, read only when the handler asks,
//! after authorization, and never beyond the configured size. Even a wrong
//! content type is told only then, so that authentication comes first.

use poem::web::Multipart;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use tokio::io::AsyncReadExt as _;

use crate::problem::ApiError;

/// The upload's parts, not yet read, or why there are none.
pub(crate) struct FileUpload(Result<Multipart, ApiError>);

impl std::fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileUpload(..)")
    }
}

/// The `file` part as read.
#[derive(Debug)]
pub(crate) struct UploadedFile {
    pub(crate) file_name: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) bytes: Vec<u8>,
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        format!("the file is larger than the limit of {max} bytes"),
    )
}

impl FileUpload {
    /// Reads the `file` part, refusing it (413) as soon as it passes `max`
    /// bytes; other parts are skipped.
    pub(crate) async fn read(self, max: u64) -> Result<UploadedFile, ApiError> {
        let mut parts = self.0?;
        let malformed = |e: poem::error::ParseMultipartError| {
            ApiError::new(
                400,
                "bad_request",
                format!("the multipart body is malformed: {e}"),
            )
        };
        while let Some(field) = parts.next_field().await.map_err(malformed)? {
            if field.name() != Some("file") {
                continue;
            }
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let mut bytes = Vec::new();
            field
                .into_async_read()
                .take(max.saturating_add(1))
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| {
                    ApiError::new(400, "bad_request", format!("the upload broke off: {e}"))
                })?;
            if bytes.len() as u64 > max {
                return Err(too_large(max));
            }
            return Ok(UploadedFile {
                file_name,
                content_type,
                bytes,
            });
        }
        Err(ApiError::invalid(
            "file",
            "is required: send one part named `file`",
        ))
    }
}

impl<'a> ApiExtractor<'a> for FileUpload {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        let _ = registry;
    }

    fn request_meta() -> Option<MetaRequest> {
        let mut schema = MetaSchema::new("object");
        schema.required = vec!["file"];
        schema.properties = vec![(
            "file",
            MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary"))),
        )];
        Some(MetaRequest {
            description: Some("One part named `file`; its file name names the knowledge file."),
            content: vec![MetaMediaType {
                content_type: "multipart/form-data",
                schema: MetaSchemaRef::Inline(Box::new(schema)),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let is_multipart = request
            .content_type()
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("multipart/form-data"));
        if !is_multipart {
            return Ok(Self(Err(ApiError::new(
                400,
                "bad_request",
                "send the file as multipart/form-data with one part named `file`",
            ))));
        }
        Ok(Self(
            <Multipart as FromRequest>::from_request(request, body)
                .await
                .map_err(|e| {
                    ApiError::new(
                        400,
                        "bad_request",
                        format!("the multipart body is malformed: {e}"),
                    )
                }),
        ))
    }
}
