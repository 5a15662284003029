//! The table of operations: what a member may ask of an organization, each
//! naming the one capability it needs (Cedar's actions, as data).
//!
//! [`Operation::capability`] is the only place that says which capability
//! an operation needs. The decisions ask [`crate::decide::Access::grant`] for
//! an operation, the HTTP layer checks the same operation before it reads a
//! body, `docs/permissions.md` lists the table, and the console reads it
//! from `GET /v1/roles`. A new capability is a variant of
//! [`crate::policy::Capability`], its line of the matrix, and the
//! operations here that need it.

use std::fmt;

use crate::policy::Capability;
use crate::resource::ResourceKind;

/// Something a member asks of an organization.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// See the organization, its plans and its roles; switch to it.
    ViewOrganization,
    /// Leave the organization: every member may.
    LeaveOrganization,
    RenameOrganization,
    ListMembers,
    InviteMember,
    ListInvitations,
    RevokeInvitation,
    ResendInvitation,
    RemoveMember,
    ChangeMemberRole,
    ViewBilling,
    ChangePlan,
    ListRoles,
    CreateRole,
    UpdateRole,
    DeleteRole,
    /// List, read and download resources of a kind.
    ViewResources(ResourceKind),
    CreateResource(ResourceKind),
    UpdateResource(ResourceKind),
    DeleteResource(ResourceKind),
    RotateCredentials,
    SetSchedule,
    ClearSchedule,
    ListReportRuns,
    TriggerReportRun,
    ListPins,
    Pin,
    Unpin,
    ListChats,
    ChatWithAgent,
    ChatAboutReportRun,
    ListInvestigations,
    RunInvestigation,
    ViewAuditLog,
    ManageWebhooks,
    /// Schedule the organization's deletion (owner only).
    DeleteOrganization,
    /// See the scheduled deletion (owner only).
    ViewDeletion,
    /// Cancel the scheduled deletion (owner only).
    RestoreOrganization,
    /// Offer the ownership to a member (owner only).
    TransferOwnership,
    /// See the pending transfer: its owner and its target.
    ViewTransfer,
    /// Withdraw the pending transfer (owner only).
    CancelTransfer,
    /// Accept or decline the transfer: its target alone.
    RespondToTransfer,
}

impl Operation {
    /// Every operation, in the order of the API's sections.
    pub const ALL: [Self; 54] = [
        Self::ViewOrganization,
        Self::LeaveOrganization,
        Self::RenameOrganization,
        Self::ListMembers,
        Self::InviteMember,
        Self::ListInvitations,
        Self::RevokeInvitation,
        Self::ResendInvitation,
        Self::RemoveMember,
        Self::ChangeMemberRole,
        Self::ViewBilling,
        Self::ChangePlan,
        Self::ListRoles,
        Self::CreateRole,
        Self::UpdateRole,
        Self::DeleteRole,
        Self::ViewResources(ResourceKind::Agent),
        Self::CreateResource(ResourceKind::Agent),
        Self::UpdateResource(ResourceKind::Agent),
        Self::DeleteResource(ResourceKind::Agent),
        Self::ViewResources(ResourceKind::Connection),
        Self::CreateResource(ResourceKind::Connection),
        Self::UpdateResource(ResourceKind::Connection),
        Self::DeleteResource(ResourceKind::Connection),
        Self::RotateCredentials,
        Self::ViewResources(ResourceKind::Report),
        Self::CreateResource(ResourceKind::Report),
        Self::UpdateResource(ResourceKind::Report),
        Self::DeleteResource(ResourceKind::Report),
        Self::SetSchedule,
        Self::ClearSchedule,
        Self::ListReportRuns,
        Self::TriggerReportRun,
        Self::ViewResources(ResourceKind::KnowledgeFile),
        Self::CreateResource(ResourceKind::KnowledgeFile),
        Self::UpdateResource(ResourceKind::KnowledgeFile),
        Self::DeleteResource(ResourceKind::KnowledgeFile),
        Self::ListPins,
        Self::Pin,
        Self::Unpin,
        Self::ListChats,
        Self::ChatWithAgent,
        Self::ChatAboutReportRun,
        Self::ListInvestigations,
        Self::RunInvestigation,
        Self::ViewAuditLog,
        Self::ManageWebhooks,
        Self::DeleteOrganization,
        Self::ViewDeletion,
        Self::RestoreOrganization,
        Self::TransferOwnership,
        Self::ViewTransfer,
        Self::CancelTransfer,
        Self::RespondToTransfer,
    ];

    /// Whether the owner may still do it while the organization is pending
    /// deletion (R29): see it and its deletion, and restore it. Everything
    /// else answers `organization_pending_deletion`, and nothing at all is
    /// left to the other members (404).
    pub const fn allowed_while_pending_deletion(self) -> bool {
        matches!(
            self,
            Self::ViewOrganization
                | Self::DeleteOrganization
                | Self::ViewDeletion
                | Self::RestoreOrganization
        )
    }

    /// The capability the operation needs: the table.
    pub const fn capability(self) -> Capability {
        use Capability as C;
        match self {
            Self::ViewOrganization
            | Self::LeaveOrganization
            | Self::ListRoles
            | Self::ViewResources(_)
            | Self::ListReportRuns
            | Self::ListPins
            | Self::ListChats
            | Self::ListInvestigations => C::ViewResources,
            Self::RenameOrganization => C::RenameOrganization,
            Self::ListMembers
            | Self::InviteMember
            | Self::ListInvitations
            | Self::RevokeInvitation
            | Self::ResendInvitation
            | Self::RemoveMember
            | Self::ChangeMemberRole => C::ManageMembers,
            Self::ViewBilling | Self::ChangePlan => C::ManageBilling,
            Self::CreateRole | Self::UpdateRole | Self::DeleteRole => C::ManageRoles,
            Self::CreateResource(kind)
            | Self::UpdateResource(kind)
            | Self::DeleteResource(kind) => match kind {
                ResourceKind::Agent => C::ManageAgents,
                ResourceKind::Connection => C::ManageConnections,
                ResourceKind::Report => C::ManageReports,
                ResourceKind::KnowledgeFile => C::UploadKnowledgeFiles,
            },
            Self::RotateCredentials => C::ManageConnections,
            Self::SetSchedule | Self::ClearSchedule => C::ManageSchedules,
            Self::TriggerReportRun => C::TriggerReportRuns,
            Self::Pin | Self::Unpin => C::PinItems,
            Self::ChatWithAgent => C::ChatWithAgents,
            Self::ChatAboutReportRun => C::ChatWithReportResults,
            Self::RunInvestigation => C::RunInvestigations,
            Self::ViewAuditLog => C::ViewAuditLog,
            Self::ManageWebhooks => C::ManageWebhooks,
            Self::DeleteOrganization | Self::ViewDeletion | Self::RestoreOrganization => {
                C::DeleteOrganization
            }
            Self::TransferOwnership | Self::CancelTransfer => C::TransferOwnership,
            Self::ViewTransfer | Self::RespondToTransfer => C::ViewResources,
        }
    }

    /// A stable snake_case name, for tables and tests.
    pub fn name(self) -> String {
        let kinded = |verb: &str, kind: ResourceKind| format!("{verb}_{}", kind.name());
        match self {
            Self::ViewResources(kind) => kinded("view", kind),
            Self::CreateResource(kind) => kinded("create", kind),
            Self::UpdateResource(kind) => kinded("update", kind),
            Self::DeleteResource(kind) => kinded("delete", kind),
            _ => self.fixed_name().to_owned(),
        }
    }

    const fn fixed_name(self) -> &'static str {
        match self {
            Self::ViewOrganization => "view_organization",
            Self::LeaveOrganization => "leave_organization",
            Self::RenameOrganization => "rename_organization",
            Self::ListMembers => "list_members",
            Self::InviteMember => "invite_member",
            Self::ListInvitations => "list_invitations",
            Self::RevokeInvitation => "revoke_invitation",
            Self::ResendInvitation => "resend_invitation",
            Self::RemoveMember => "remove_member",
            Self::ChangeMemberRole => "change_member_role",
            Self::ViewBilling => "view_billing",
            Self::ChangePlan => "change_plan",
            Self::ListRoles => "list_roles",
            Self::CreateRole => "create_role",
            Self::UpdateRole => "update_role",
            Self::DeleteRole => "delete_role",
            Self::RotateCredentials => "rotate_credentials",
            Self::SetSchedule => "set_schedule",
            Self::ClearSchedule => "clear_schedule",
            Self::ListReportRuns => "list_report_runs",
            Self::TriggerReportRun => "trigger_report_run",
            Self::ListPins => "list_pins",
            Self::Pin => "pin",
            Self::Unpin => "unpin",
            Self::ListChats => "list_chats",
            Self::ChatWithAgent => "chat_with_agent",
            Self::ChatAboutReportRun => "chat_about_report_run",
            Self::ListInvestigations => "list_investigations",
            Self::RunInvestigation => "run_investigation",
            Self::ViewAuditLog => "view_audit_log",
            Self::ManageWebhooks => "manage_webhooks",
            Self::DeleteOrganization => "delete_organization",
            Self::ViewDeletion => "view_deletion",
            Self::RestoreOrganization => "restore_organization",
            Self::TransferOwnership => "transfer_ownership",
            Self::ViewTransfer => "view_ownership_transfer",
            Self::CancelTransfer => "cancel_ownership_transfer",
            Self::RespondToTransfer => "respond_to_ownership_transfer",
            Self::ViewResources(_)
            | Self::CreateResource(_)
            | Self::UpdateResource(_)
            | Self::DeleteResource(_) => "",
        }
    }

    /// What it is, for people.
    pub fn description(self) -> String {
        let kinds = |kind: ResourceKind| kind.plural_label();
        match self {
            Self::ViewResources(kind) => format!("List, read and download {}", kinds(kind)),
            Self::CreateResource(kind) => format!("Create {}", kinds(kind)),
            Self::UpdateResource(kind) => format!("Edit {}", kinds(kind)),
            Self::DeleteResource(kind) => format!("Delete {}", kinds(kind)),
            Self::ViewOrganization => "See the organization, its roles, and switch to it".into(),
            Self::LeaveOrganization => "Leave the organization".into(),
            Self::RenameOrganization => "Rename the organization".into(),
            Self::ListMembers => "List members".into(),
            Self::InviteMember => "Invite someone".into(),
            Self::ListInvitations => "List invitations".into(),
            Self::RevokeInvitation => "Revoke an invitation".into(),
            Self::ResendInvitation => "Resend an invitation".into(),
            Self::RemoveMember => "Remove a member".into(),
            Self::ChangeMemberRole => "Change a member's role".into(),
            Self::ViewBilling => "See the plan, limits and usage".into(),
            Self::ChangePlan => "Change the plan".into(),
            Self::ListRoles => "List the organization's roles".into(),
            Self::CreateRole => "Create a custom role".into(),
            Self::UpdateRole => "Edit a custom role".into(),
            Self::DeleteRole => "Delete a custom role".into(),
            Self::RotateCredentials => "Replace a connection's credentials".into(),
            Self::SetSchedule => "Set a report's schedule".into(),
            Self::ClearSchedule => "Clear a report's schedule".into(),
            Self::ListReportRuns => "List a report's runs".into(),
            Self::TriggerReportRun => "Trigger a report run".into(),
            Self::ListPins => "List one's pins".into(),
            Self::Pin => "Pin an item to one's sidebar".into(),
            Self::Unpin => "Unpin an item".into(),
            Self::ListChats => "List and read one's chats".into(),
            Self::ChatWithAgent => "Chat with an agent".into(),
            Self::ChatAboutReportRun => "Chat about a report run's results".into(),
            Self::ListInvestigations => "List investigations".into(),
            Self::RunInvestigation => "Run an investigation".into(),
            Self::ViewAuditLog => "Read and export the audit log".into(),
            Self::ManageWebhooks => "Manage webhooks".into(),
            Self::DeleteOrganization => "Schedule the organization's deletion".into(),
            Self::ViewDeletion => "See the scheduled deletion".into(),
            Self::RestoreOrganization => "Restore the organization before its purge".into(),
            Self::TransferOwnership => "Offer the ownership to a member".into(),
            Self::ViewTransfer => "See the pending ownership transfer".into(),
            Self::CancelTransfer => "Withdraw the pending ownership transfer".into(),
            Self::RespondToTransfer => "Accept or decline an ownership transfer".into(),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_operation_is_listed_once_with_a_distinct_name() {
        let names: BTreeSet<String> = Operation::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names.len(), Operation::ALL.len());
        assert!(names.iter().all(|name| !name.is_empty()));
    }

    #[test]
    fn every_capability_is_needed_by_some_operation() {
        for capability in Capability::ALL {
            assert!(
                Operation::ALL
                    .iter()
                    .any(|op| op.capability() == capability),
                "no operation needs `{capability}`"
            );
        }
    }

    #[test]
    fn managing_a_kind_needs_the_kind_s_capability() {
        assert_eq!(
            Operation::CreateResource(ResourceKind::KnowledgeFile).capability(),
            Capability::UploadKnowledgeFiles
        );
        assert_eq!(
            Operation::DeleteResource(ResourceKind::Agent).capability(),
            Capability::ManageAgents
        );
        assert_eq!(
            Operation::ViewResources(ResourceKind::Connection).capability(),
            Capability::ViewResources
        );
    }
}
