//! The pure policy core of tenancy: organizations, memberships, roles,
//! invitations, plans and quotas, and the permission matrix as capabilities.
//!
//! Nothing here does I/O. Decisions are pure functions of a snapshot
//! ([`decide`]); the use cases ([`service::Service`]) run them inside one
//! transaction of a [`ports::Repository`]. Time, ids and randomness come in
//! through ports, so tests control them.
//!
//! With the `test-util` feature, [`testing`] offers proptest strategies for
//! the domain types, an in-memory repository and the reference model that the
//! core's model-based test and the store's differential test share.

pub mod audit;
pub mod decide;
pub mod entity;
pub mod error;
pub mod id;
pub mod limits;
pub mod operation;
pub mod plan;
pub mod policy;
pub mod ports;
pub mod resource;
pub mod service;
pub mod token;
pub mod value;
pub mod webhook;

#[cfg(feature = "test-util")]
pub mod testing;

pub use error::{Error, Missing, StoreError};
pub use id::{
    AccountTokenId, ChatId, InvestigationId, InvitationId, MailId, MessageId, OrganizationId,
    PinId, ReportRunId, ResourceId, SessionId, TransferId, UserId,
};
pub use operation::Operation;
pub use policy::{Capability, CapabilitySet, Denial, Grant, Membership, Role, RoleKey, authorize};
