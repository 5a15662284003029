//! Identifiers as distinct types, so that a user id can never be passed where an
//! organization id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID that names this kind of thing.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// A person with an account.
    UserId
);
id_type!(
    /// A request to hand an organization's ownership to a member (R28).
    TransferId
);
id_type!(
    /// An organization: the unit of isolation, billing and membership.
    OrganizationId
);
id_type!(
    /// An invitation of an email address into an organization.
    InvitationId
);
id_type!(
    /// A resource of an organization: an agent, a connection, a report or a
    /// knowledge file.
    ResourceId
);
id_type!(
    /// One run of a report.
    ReportRunId
);
id_type!(
    /// An item pinned to one member's sidebar.
    PinId
);
id_type!(
    /// An investigation that a member asked an agent to run.
    InvestigationId
);
id_type!(
    /// A chat of one member with an agent or a report run.
    ChatId
);
id_type!(
    /// One message of a chat.
    MessageId
);
id_type!(
    /// One email in the outbox.
    MailId
);
id_type!(
    /// A signed-in session: what a user lists and ends.
    SessionId
);
id_type!(
    /// A link sent to an account's address: email verification or password reset.
    AccountTokenId
);
id_type!(
    /// One event of an organization's audit log (R32).
    AuditEventId
);
id_type!(
    /// A webhook endpoint of an organization (R33).
    WebhookId
);
id_type!(
    /// One delivery of an event to one webhook.
    DeliveryId
);
