//! Plans and billing: the catalog, an organization's plan, limits and
//! usage, and changing the plan.

use crate::errors::fails;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tenancy_core::decide::PlanChanger;
use tenancy_core::plan::{Limits, Plan, PlanId, Usage};
use tenancy_core::service::Billing;
use tenancy_core::{Operation, OrganizationId};
use uuid::Uuid;

use super::{Result, Tag};
use crate::auth::{BillingAuth, Session, is_service_token};
use crate::body::JsonBody;
use crate::paging::list;
use crate::state::AppState;

/// A plan's limits; `null` is unlimited.
#[derive(Debug, Clone, Object)]
pub(crate) struct LimitsBody {
    #[oai(nullable)]
    pub(crate) agents: Option<u64>,
    #[oai(nullable)]
    pub(crate) connections: Option<u64>,
    #[oai(nullable)]
    pub(crate) reports: Option<u64>,
    #[oai(nullable)]
    pub(crate) chat_messages_per_month: Option<u64>,
    #[oai(nullable)]
    pub(crate) knowledge_files: Option<u64>,
    /// The bytes that all knowledge files may take together.
    #[oai(nullable)]
    pub(crate) storage_bytes: Option<u64>,
}

impl From<&Limits> for LimitsBody {
    fn from(l: &Limits) -> Self {
        Self {
            agents: l.agents,
            connections: l.connections,
            reports: l.reports,
            chat_messages_per_month: l.chat_messages_per_month,
            knowledge_files: l.knowledge_files,
            storage_bytes: l.storage_bytes,
        }
    }
}

/// A plan of the catalog.
#[derive(Debug, Clone, Object)]
pub(crate) struct PlanBody {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Whether members with `manage_billing` may pick it themselves; the
    /// others only the host's billing system sets.
    pub(crate) self_serve: bool,
    pub(crate) limits: LimitsBody,
}

impl From<&Plan> for PlanBody {
    fn from(plan: &Plan) -> Self {
        Self {
            id: plan.id.as_str().to_owned(),
            name: plan.name.clone(),
            self_serve: plan.self_serve,
            limits: (&plan.limits).into(),
        }
    }
}

/// What an organization uses now.
#[derive(Debug, Clone, Object)]
pub(crate) struct UsageBody {
    pub(crate) agents: u64,
    pub(crate) connections: u64,
    pub(crate) reports: u64,
    pub(crate) chat_messages_this_month: u64,
    pub(crate) knowledge_files: u64,
    /// The sizes of the knowledge files, summed.
    pub(crate) storage_bytes: u64,
}

impl From<&Usage> for UsageBody {
    fn from(u: &Usage) -> Self {
        Self {
            agents: u.agents,
            connections: u.connections,
            reports: u.reports,
            chat_messages_this_month: u.chat_messages_this_month,
            knowledge_files: u.knowledge_files,
            storage_bytes: u.storage_bytes,
        }
    }
}

/// The billing view of an organization.
#[derive(Debug, Clone, Object)]
pub(crate) struct BillingBody {
    pub(crate) plan: String,
    pub(crate) limits: LimitsBody,
    pub(crate) usage: UsageBody,
}

impl From<&Billing> for BillingBody {
    fn from(b: &Billing) -> Self {
        Self {
            plan: b.plan.as_str().to_owned(),
            limits: (&b.limits).into(),
            usage: (&b.usage).into(),
        }
    }
}

list!(
    /// A page of plans.
    PlanList,
    PlanBody
);

/// A plan to change to.
#[derive(Debug, Object)]
pub(crate) struct PlanRequest {
    pub(crate) plan: String,
}

/// The operations of this area.
pub(crate) struct BillingApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1")]
impl BillingApi {
    /// List the plans
    ///
    /// Lists the plan catalog: each plan's limits (`null` is unlimited) and whether members may
    /// pick it themselves (`self_serve`).
    /// The built-in catalog (`free`, `pro`, `enterprise`) is replaced by the plans file of
    /// `--plans` when one is given.
    /// No authentication.
    #[oai(
        path = "/plans",
        method = "get",
        tag = "Tag::Plans",
        operation_id = "list_plans"
    )]
    async fn plans(
        &self,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<PlanList>, fails![ValidationFailed]> {
        let plans = self
            .0
            .tenancy
            .settings()
            .catalog
            .plans()
            .iter()
            .map(PlanBody::from)
            .collect();
        Ok(PlanList::of(plans, limit.0, cursor.0)?)
    }

    /// Get an organization's plan, limits and usage
    ///
    /// Returns the organization's plan, that plan's limits and the current usage; chat messages are
    /// counted for the current calendar month in UTC.
    /// Needs `manage_billing`.
    #[oai(
        path = "/organizations/:org_id/billing",
        method = "get",
        tag = "Tag::Plans",
        operation_id = "get_billing"
    )]
    async fn billing(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<
        Json<BillingBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let caller = self.0.caller(&auth.0.token).await?;
        let billing = self
            .0
            .tenancy
            .billing(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        Ok(Json((&billing).into()))
    }

    /// Change an organization's plan
    ///
    /// Sets the organization's plan and returns the plan, limits and usage; a plan below the
    /// current usage is accepted, and only new creations beyond it are refused (D10).
    /// With a member's session it needs `manage_billing` and accepts self-serve plans only.
    /// With the service token (the host's billing system, after payment) it sets any plan of the
    /// catalog, in any organization that exists.
    #[oai(
        path = "/organizations/:org_id/billing/plan",
        method = "put",
        tag = "Tag::Plans",
        operation_id = "change_plan"
    )]
    async fn change_plan(
        &self,
        auth: BillingAuth,
        org_id: Path<Uuid>,
        body: JsonBody<PlanRequest>,
    ) -> Result<
        Json<BillingBody>,
        fails![
            Unauthenticated,
            NotFound,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            Forbidden,
            PlanNotSelectable,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body.
        let token = auth.token();
        let by = if is_service_token(&self.0, token) {
            self.0.tenancy.organization_for_host(org).await?;
            PlanChanger::Host
        } else {
            let caller = self.0.authorized(token, org, Operation::ChangePlan).await?;
            PlanChanger::Member(caller)
        };
        let billing = self
            .0
            .tenancy
            .change_plan(by, org, PlanId::new(body.value()?.plan))
            .await?;
        Ok(Json((&billing).into()))
    }
}
