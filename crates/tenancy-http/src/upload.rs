//! Knowledge files' bytes over HTTP, never held whole: the multipart upload
//! of one `file` part, opened only when the handler asks (after
//! authorization) and streamed to the use case, and the download's body.
//! Even a wrong content type is told only when opened, so that
//! authentication comes first.

use std::pin::Pin;

use poem::web::Multipart;
use poem::{Body, FromRequest, Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use tenancy_core::ports::BlobReader;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt as _, TokioAsyncReadCompatExt as _};

use crate::problem::ApiError;

/// The upload's parts, not yet read, or why there are none.
pub(crate) struct FileUpload(Result<Multipart, ApiError>);

impl std::fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileUpload(..)")
    }
}

/// The `file` part: its headers, and its bytes still to come.
pub(crate) struct FilePart {
    pub(crate) file_name: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) content: PartContent,
}

impl std::fmt::Debug for FilePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePart")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl FileUpload {
    /// The `file` part, handed over with its bytes unread. The body holds
    /// that one part and nothing before it, as the document says
    /// (`additionalProperties: false`): any other part first is refused
    /// rather than skipped, so that a misnamed field is reported instead of
    /// read past.
    pub(crate) async fn open(self) -> Result<FilePart, ApiError> {
        let mut parts = self.0?;
        let malformed = |e: poem::error::ParseMultipartError| {
            ApiError::bad_request(format!("the multipart body is malformed: {e}"))
        };
        let required = || ApiError::invalid("file", "is required: send one part named `file`");
        let field = match parts.next_field().await.map_err(malformed)? {
            Some(field) if field.name() == Some("file") => field,
            Some(field) => {
                let Some(other) = field.name() else {
                    return Err(required());
                };
                let other: String = other.chars().take(64).collect();
                return Err(ApiError::invalid(
                    "file",
                    format!("send one part named `file`, not `{other}`"),
                ));
            }
            None => return Err(required()),
        };
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        Ok(FilePart {
            file_name,
            content_type,
            content: to_the_end(Box::pin(field.into_async_read()), parts).compat(),
        })
    }
}

/// The bytes of the `file` part, then the end of the body: a part after it
/// is a read error (so the upload is refused with 400 and nothing is
/// stored), read only once the file's bytes are all in, since multipart
/// parts come in order.
fn to_the_end(
    part: Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    mut parts: Multipart,
) -> Pin<Box<dyn tokio::io::AsyncRead + Send>> {
    use futures::StreamExt as _;
    // `chain` drops the part's stream once it has ended, before the next
    // part is asked for, as multipart parsing requires.
    let after = futures::stream::once(async move {
        let problem = match parts.next_field().await {
            Ok(None) => return None,
            Ok(Some(field)) => {
                let name: String = field.name().unwrap_or("").chars().take(64).collect();
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a part `{name}` follows the file: send only the `file` part"),
                )
            }
            Err(e) => std::io::Error::other(format!("the multipart body is malformed: {e}")),
        };
        Some(Err(problem))
    })
    .filter_map(std::future::ready);
    Box::pin(tokio_util::io::StreamReader::new(
        tokio_util::io::ReaderStream::new(part).chain(after),
    ))
}

/// The name of an uploaded file: the last path segment of the part's file
/// name, whichever separator the client's system uses (`../../x.md` and
/// `..\..\x.md` are `x.md`), so that no path leaves the client.
pub(crate) fn last_segment(file_name: Option<&str>) -> Result<&str, String> {
    let raw = file_name.unwrap_or_default();
    let segment = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    match segment {
        "" | "." | ".." => Err(format!(
            "the part's file name `{raw}` names no file; send the file's name"
        )),
        name => Ok(name),
    }
}

/// The bytes of the `file` part as they arrive, to the end of the part,
/// through the core's runtime-free reader trait.
pub(crate) type PartContent = Compat<Pin<Box<dyn tokio::io::AsyncRead + Send>>>;

/// A response body that reads a blob in chunks as the client takes them.
pub(crate) fn body_of(content: BlobReader) -> Body {
    Body::from_async_read(content.compat())
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
            return Ok(Self(Err(ApiError::bad_request(
                "send the file as multipart/form-data with one part named `file`",
            ))));
        }
        Ok(Self(
            <Multipart as FromRequest>::from_request(request, body)
                .await
                .map_err(|e| {
                    ApiError::bad_request(format!("the multipart body is malformed: {e}"))
                }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::last_segment;

    #[test]
    fn a_file_name_is_its_last_path_segment() {
        for (raw, name) in [
            ("x.md", "x.md"),
            ("../../x.md", "x.md"),
            ("..\\..\\x.md", "x.md"),
            ("/etc/passwd", "passwd"),
            ("C:\\Users\\ann\\notes 1.md", "notes 1.md"),
            ("a/b\\c.txt", "c.txt"),
            ("  spaced.txt ", "spaced.txt"),
        ] {
            assert_eq!(last_segment(Some(raw)), Ok(name), "{raw}");
        }
        for raw in [
            "", " ", "dir/", "..", ".", "../..", "a/.", "x\\..", "a/ .. ",
        ] {
            let refused = last_segment(Some(raw)).unwrap_err();
            assert!(refused.contains(&format!("`{raw}`")), "{refused}");
        }
        assert!(last_segment(None).is_err());
    }
}
