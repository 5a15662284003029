//! Knowledge files of an organization: uploaded as multipart and streamed to
//! the blob store, downloaded as attachments that never run as a page.

use crate::errors::fails;
use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::{ApiResponse, Object, OpenApi};
use tenancy_core::resource::{ContentType, Details, Resource, ResourceKind, ResourceName};
use tenancy_core::{Operation, ResourceId};
use uuid::Uuid;

use super::kinds::{FromResource, Kinds, org};
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::Fields;
use crate::paging::list;
use crate::problem::ApiError;
use crate::respond::{Created, NoContent};
use crate::state::AppState;
use crate::upload::{FileUpload, body_of, last_segment};

/// A knowledge file; its content is at `/knowledge-files/{id}/content`.
#[derive(Debug, Clone, Object)]
pub(crate) struct KnowledgeFileBody {
    id: Uuid,
    name: String,
    content_type: String,
    size_bytes: u64,
    /// SHA-256 of the content, lower-case hex.
    sha256: String,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl FromResource for KnowledgeFileBody {
    const KIND: ResourceKind = ResourceKind::KnowledgeFile;
    fn convert(r: &Resource, _: DateTime<Utc>) -> Option<Self> {
        let Details::KnowledgeFile(file) = &r.details else {
            return None;
        };
        Some(Self {
            id: r.id.as_uuid(),
            name: r.name.as_str().to_owned(),
            content_type: file.content_type.as_str().to_owned(),
            size_bytes: file.size_bytes,
            sha256: file.sha256.clone(),
            created_by: r.created_by.as_uuid(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

list!(
    /// A page of knowledge files.
    KnowledgeFileList,
    KnowledgeFileBody
);

/// A knowledge file's bytes, with the headers that keep a browser from
/// running them.
#[derive(ApiResponse)]
enum Content {
    /// The bytes, with the media type declared at upload.
    #[oai(status = 200, content_type = "*/*")]
    Ok(Binary<poem::Body>),
}

/// The operations of this area.
pub(crate) struct KnowledgeFilesApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl KnowledgeFilesApi {
    /// List knowledge files
    ///
    /// Lists the organization's knowledge files, oldest first, with their media type, size and
    /// SHA-256.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/knowledge-files",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "list_knowledge_files"
    )]
    async fn knowledge_files(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<KnowledgeFileList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let items = Kinds(&self.0).list(&auth, org(&org_id)).await?;
        Ok(KnowledgeFileList::of(items, limit.0, cursor.0)?)
    }

    /// Upload a knowledge file
    ///
    /// Uploads a file as `multipart/form-data` with one `file` part, streamed to storage; its name
    /// is the last path segment of the part's file name, its media type the part's
    /// (`application/octet-stream` when absent).
    /// The upload is cut off as soon as it passes `--max-upload-bytes` (10 MiB by default).
    /// It counts toward the plan's `knowledge_files` limit and its bytes toward `storage_bytes`; an
    /// upload refused for either leaves nothing stored (D10).
    /// Needs `upload_knowledge_files`, checked before any content is read.
    #[oai(
        path = "/:org_id/knowledge-files",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "upload_knowledge_file"
    )]
    async fn upload(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        upload: FileUpload,
    ) -> Result<
        Created<KnowledgeFileBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            QuotaExceeded,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(
                &auth,
                org,
                Operation::CreateResource(ResourceKind::KnowledgeFile),
            )
            .await?;
        let mut file = upload.open().await?;
        let mut fields = Fields::default();
        let name = fields.check(
            "file",
            last_segment(file.file_name.as_deref()).and_then(|name| {
                ResourceName::parse(name).map_err(|e| format!("the file name `{name}` {e}"))
            }),
        );
        let content_type = match file.content_type.as_deref() {
            None => Some(ContentType::octet_stream()),
            Some(raw) => fields.check("file", ContentType::parse(raw)),
        };
        fields.finish()?;
        let (Some(name), Some(content_type)) = (name, content_type) else {
            return Err(ApiError::invalid("file", "invalid upload").into());
        };
        let created = self
            .0
            .tenancy
            .upload_knowledge_file(
                caller,
                org,
                name,
                content_type,
                &mut file.content,
                self.0.config.max_upload_bytes,
            )
            .await?;
        let body = KnowledgeFileBody::from_resource(&created, created.updated_at)?;
        Ok(Created::Created(Json(body)))
    }

    /// Get a knowledge file
    ///
    /// Returns one knowledge file's name, media type, size and SHA-256; its bytes are at
    /// `/content`.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/knowledge-files/:file_id",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "get_knowledge_file"
    )]
    async fn knowledge_file(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        file_id: Path<Uuid>,
    ) -> Result<
        Json<KnowledgeFileBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Json(
            Kinds(&self.0).one(&auth, org(&org_id), file_id.0).await?,
        ))
    }

    /// Download a knowledge file
    ///
    /// Streams a knowledge file's bytes with the media type declared at upload, as an attachment
    /// with a sandboxing Content-Security-Policy, so that a browser never runs them as a page of
    /// this origin.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/knowledge-files/:file_id/content",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "get_knowledge_file_content"
    )]
    async fn knowledge_file_content(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        file_id: Path<Uuid>,
    ) -> Result<
        Response<Content>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let (file, content) = self
            .0
            .tenancy
            .knowledge_file_content(caller, org(&org_id), ResourceId::from_uuid(file_id.0))
            .await?;
        let (content_type, size) = match &file.details {
            Details::KnowledgeFile(details) => {
                (details.content_type.as_str().to_owned(), details.size_bytes)
            }
            _ => (ContentType::octet_stream().as_str().to_owned(), 0),
        };
        // The name is quoted with anything that could break the header
        // replaced; the bytes never run as a page of this origin.
        let safe_name: String = file
            .name
            .as_str()
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // Streamed as the client reads it; the length is the one recorded
        // at upload, so a client can tell a download cut short.
        Ok(Response::new(Content::Ok(Binary(body_of(content))))
            .header("Content-Type", content_type)
            .header("Content-Length", size)
            .header(
                "Content-Disposition",
                format!("attachment; filename=\"{safe_name}\""),
            )
            .header("X-Content-Type-Options", "nosniff")
            .header("Content-Security-Policy", "sandbox; default-src 'none'"))
    }

    /// Delete a knowledge file
    ///
    /// Deletes a knowledge file and its content; it no longer counts toward `knowledge_files` or
    /// `storage_bytes`.
    /// Needs `upload_knowledge_files`.
    #[oai(
        path = "/:org_id/knowledge-files/:file_id",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "delete_knowledge_file"
    )]
    async fn delete_knowledge_file(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        file_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .delete(&auth, org(&org_id), ResourceKind::KnowledgeFile, file_id.0)
            .await?)
    }
}
