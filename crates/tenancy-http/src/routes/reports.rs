//! Reports of an organization, on the generic path of resources, with their
//! runs and schedules.

use crate::errors::fails;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tenancy_core::resource::{
    Definition, Details, NewResource, ReportRun, Resource, ResourceKind, ResourceName,
    ResourcePatch, Schedule, ValueError,
};
use tenancy_core::{Operation, ResourceId};
use uuid::Uuid;

use super::kinds::{FromResource, Kinds, optional, org};
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::{Fields, JsonBody};
use crate::paging::list;
use crate::problem::ApiError;
use crate::respond::{Accepted, Created, NoContent};
use crate::state::AppState;

/// A report.
#[derive(Debug, Clone, Object)]
pub(crate) struct ReportBody {
    id: Uuid,
    name: String,
    /// Opaque to tenancy; the host's report engine reads it.
    definition: BTreeMap<String, serde_json::Value>,
    #[oai(nullable)]
    schedule: Option<ScheduleBody>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// When a report runs by itself.
#[derive(Debug, Clone, Object)]
pub(crate) struct ScheduleBody {
    report_id: Uuid,
    cron: String,
    /// IANA time zone name.
    timezone: String,
    /// The next time it runs.
    #[oai(nullable)]
    next_run_at: Option<DateTime<Utc>>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum RunStatusName {
    Queued,
}

/// A run of a report.
#[derive(Debug, Clone, Object)]
pub(crate) struct RunBody {
    id: Uuid,
    report_id: Uuid,
    status: RunStatusName,
    triggered_by: Uuid,
    created_at: DateTime<Utc>,
}

fn schedule_body(report: ResourceId, schedule: &Schedule, now: DateTime<Utc>) -> ScheduleBody {
    ScheduleBody {
        report_id: report.as_uuid(),
        cron: schedule.cron().to_owned(),
        timezone: schedule.timezone().to_owned(),
        next_run_at: schedule.next_run_after(now),
    }
}

impl FromResource for ReportBody {
    const KIND: ResourceKind = ResourceKind::Report;
    fn convert(r: &Resource, now: DateTime<Utc>) -> Option<Self> {
        let Details::Report(report) = &r.details else {
            return None;
        };
        Some(Self {
            id: r.id.as_uuid(),
            name: r.name.as_str().to_owned(),
            definition: report
                .definition
                .as_object()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            schedule: report
                .schedule
                .as_ref()
                .map(|s| schedule_body(r.id, s, now)),
            created_by: r.created_by.as_uuid(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl From<&ReportRun> for RunBody {
    fn from(run: &ReportRun) -> Self {
        Self {
            id: run.id.as_uuid(),
            report_id: run.report_id.as_uuid(),
            status: RunStatusName::Queued,
            triggered_by: run.triggered_by.as_uuid(),
            created_at: run.created_at,
        }
    }
}

list!(
    /// A page of reports.
    ReportList,
    ReportBody
);

list!(
    /// A page of runs of a report.
    RunList,
    RunBody
);

/// A new report.
#[derive(Debug, Object)]
pub(crate) struct ReportRequest {
    name: String,
    /// A JSON object of at most 64 KiB.
    definition: BTreeMap<String, serde_json::Value>,
}

/// Changes to a report.
#[derive(Debug, Object)]
pub(crate) struct ReportPatch {
    #[oai(nullable)]
    name: Option<String>,
    #[oai(nullable)]
    definition: Option<BTreeMap<String, serde_json::Value>>,
}

/// A schedule.
#[derive(Debug, Object)]
pub(crate) struct ScheduleRequest {
    /// Five fields (`0 9 * * 1-5`), or six with seconds first.
    cron: String,
    /// IANA time zone name; UTC when absent.
    #[oai(nullable)]
    timezone: Option<String>,
}

fn definition(fields: &mut Fields, raw: BTreeMap<String, serde_json::Value>) -> Option<Definition> {
    fields.check("definition", Definition::parse(raw.into_iter().collect()))
}

/// The operations of this area.
pub(crate) struct ReportsApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl ReportsApi {
    /// List reports
    ///
    /// Lists the organization's reports, oldest first, each with its schedule if it has one.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/reports",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "list_reports"
    )]
    async fn reports(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<ReportList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let items = Kinds(&self.0).list(&auth, org(&org_id)).await?;
        Ok(ReportList::of(items, limit.0, cursor.0)?)
    }

    /// Create a report
    ///
    /// Creates a report with a name and a definition, a JSON object of at most 64 KiB that only the
    /// host's report engine reads.
    /// Needs `manage_reports`; counts toward the plan's `reports` limit (D10).
    #[oai(
        path = "/:org_id/reports",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "create_report"
    )]
    async fn create_report(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<ReportRequest>,
    ) -> Result<
        Created<ReportBody>,
        fails![
            Unauthenticated,
            NotFound,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            Forbidden,
            QuotaExceeded,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .create(&auth, org(&org_id), body, |f, body| {
                let name = f.check("name", ResourceName::parse(&body.name));
                let definition = definition(f, body.definition);
                Some(NewResource::Report {
                    name: name?,
                    definition: definition?,
                })
            })
            .await?)
    }

    /// Get a report
    ///
    /// Returns one report with its schedule and the next time it runs.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/reports/:report_id",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "get_report"
    )]
    async fn report(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
    ) -> Result<
        Json<ReportBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Json(
            Kinds(&self.0).one(&auth, org(&org_id), report_id.0).await?,
        ))
    }

    /// Update a report
    ///
    /// Changes a report's name or definition (a JSON object of at most 64 KiB); absent fields stay
    /// as they are.
    /// Needs `manage_reports`.
    #[oai(
        path = "/:org_id/reports/:report_id",
        method = "patch",
        tag = "Tag::Resources",
        operation_id = "update_report"
    )]
    async fn update_report(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
        body: JsonBody<ReportPatch>,
    ) -> Result<
        Json<ReportBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .update(&auth, org(&org_id), report_id.0, body, |f, body| {
                let name = optional(f, "name", body.name, ResourceName::parse);
                let definition = match body.definition {
                    None => Some(None),
                    Some(raw) => definition(f, raw).map(Some),
                };
                Some(ResourcePatch::Report {
                    name: name?,
                    definition: definition?,
                })
            })
            .await?)
    }

    /// Delete a report
    ///
    /// Deletes a report and takes it off every member's sidebar; its runs and the chats about them
    /// keep their history.
    /// Needs `manage_reports`.
    #[oai(
        path = "/:org_id/reports/:report_id",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "delete_report"
    )]
    async fn delete_report(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
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
            .delete(&auth, org(&org_id), ResourceKind::Report, report_id.0)
            .await?)
    }

    /// Trigger a report run
    ///
    /// Queues a run of the report for the host's report engine and returns it with status `queued`.
    /// Needs `trigger_report_runs`.
    #[oai(
        path = "/:org_id/reports/:report_id/runs",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "trigger_report_run"
    )]
    async fn trigger_run(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
    ) -> Result<
        Accepted<RunBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let run = self
            .0
            .tenancy
            .trigger_run(caller, org(&org_id), ResourceId::from_uuid(report_id.0))
            .await?;
        Ok(Accepted::Accepted(Json((&run).into())))
    }

    /// List a report's runs
    ///
    /// Lists the runs of a report, oldest first.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/reports/:report_id/runs",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "list_report_runs"
    )]
    async fn runs(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<RunList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let runs = self
            .0
            .tenancy
            .report_runs(caller, org(&org_id), ResourceId::from_uuid(report_id.0))
            .await?;
        Ok(RunList::from_each(&runs, limit, cursor)?)
    }

    /// Set a report's schedule
    ///
    /// Sets when a report runs by itself: a cron expression of five fields, or six with seconds
    /// first, in an IANA time zone (UTC when absent).
    /// Returns the schedule with its next run; setting the schedule the report already has changes
    /// nothing.
    /// Needs `manage_schedules`.
    #[oai(
        path = "/:org_id/reports/:report_id/schedule",
        method = "put",
        tag = "Tag::Resources",
        operation_id = "set_report_schedule"
    )]
    async fn set_schedule(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
        body: JsonBody<ScheduleRequest>,
    ) -> Result<
        Json<ScheduleBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Operation::SetSchedule)
            .await?;
        let body = body.value()?;
        let schedule = Schedule::parse(&body.cron, body.timezone.as_deref()).map_err(|e| {
            let field = if matches!(e, ValueError::TimeZone(_)) {
                "timezone"
            } else {
                "cron"
            };
            ApiError::invalid(field, e)
        })?;
        let report = ResourceId::from_uuid(report_id.0);
        let updated = self
            .0
            .tenancy
            .set_schedule(caller, org, report, Some(schedule.clone()))
            .await?;
        Ok(Json(schedule_body(report, &schedule, updated.updated_at)))
    }

    /// Remove a report's schedule
    ///
    /// Removes a report's schedule, so that it runs only when triggered; a report without one stays
    /// as it is.
    /// Needs `manage_schedules`.
    #[oai(
        path = "/:org_id/reports/:report_id/schedule",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "clear_report_schedule"
    )]
    async fn clear_schedule(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        self.0
            .tenancy
            .set_schedule(
                caller,
                org(&org_id),
                ResourceId::from_uuid(report_id.0),
                None,
            )
            .await?;
        Ok(NoContent::NoContent)
    }
}
