//! Examples of each decision, including the defensive checks that the use
//! cases never exercise because they load snapshots correctly.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::*;
use crate::entity::{InvitationState, InvitationStatus};
use crate::plan::{Limits, PlanCatalog, Usage};

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::hours(hours)
}

fn user(n: u128, email: &str) -> User {
    User {
        id: UserId::from_uuid(Uuid::from_u128(n)),
        email: EmailAddress::parse(email).unwrap(),
        display_name: None,
        created_at: at(0),
    }
}

fn org(n: u128, owner: &User) -> Organization {
    Organization {
        id: OrganizationId::from_uuid(Uuid::from_u128(n)),
        name: OrganizationName::parse("Acme").unwrap(),
        plan: PlanId::free(),
        owner_id: owner.id,
        created_at: at(0),
    }
}

fn member(org: &Organization, user: &User, role: Role) -> Membership {
    Membership {
        organization_id: org.id,
        user_id: user.id,
        role,
        joined_at: at(0),
    }
}

fn invitation(org: &Organization, email: &str, state: InvitationState) -> Invitation {
    Invitation {
        id: InvitationId::from_uuid(Uuid::from_u128(77)),
        organization_id: org.id,
        email: EmailAddress::parse(email).unwrap(),
        role: Role::Viewer,
        token_hash: SecretToken::from_bytes([1; 32]).hash(),
        invited_by: org.owner_id,
        created_at: at(0),
        expires_at: at(24 * 7),
        state,
    }
}

struct World {
    ann: User,
    bob: User,
    acme: Organization,
    ann_owner: Membership,
    bob_viewer: Membership,
}

fn world() -> World {
    let ann = user(1, "ann@example.com");
    let bob = user(2, "bob@example.com");
    let acme = org(10, &ann);
    World {
        ann_owner: member(&acme, &ann, Role::Owner),
        bob_viewer: member(&acme, &bob, Role::Viewer),
        ann,
        bob,
        acme,
    }
}

fn codes<T>(result: Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}

#[test]
fn sign_up_creates_an_owned_active_default_organization() {
    let input = SignUp {
        user_id: UserId::from_uuid(Uuid::from_u128(1)),
        organization_id: OrganizationId::from_uuid(Uuid::from_u128(2)),
        email: EmailAddress::parse("Ann@Example.com").unwrap(),
        display_name: Some(DisplayName::parse("Ann").unwrap()),
        password_hash: PasswordHash::new("phc".into()),
        default_plan: PlanId::free(),
        session_token: SecretToken::from_bytes([9; 32]),
        now: at(0),
    };
    let decision = sign_up(input.clone(), None, PresentedInvitation::None).unwrap();
    let signed = decision.outcome();
    assert_eq!(
        signed.default_organization.name.as_str(),
        "Ann's organization"
    );
    assert_eq!(
        signed.active_organization_id,
        signed.default_organization.id
    );
    assert_eq!(signed.invitation, None);
    assert!(decision.changes().iter().any(|c| matches!(
        c,
        Change::InsertMembership(Membership {
            role: Role::Owner,
            ..
        })
    )));
    let taken = user(9, "ann@example.com");
    assert_eq!(
        codes(sign_up(input, Some(&taken), PresentedInvitation::None)),
        "email_taken"
    );
}

#[test]
fn sign_up_with_a_link_accepts_only_for_the_invited_email() {
    let w = world();
    let input = |email: &str| SignUp {
        user_id: UserId::from_uuid(Uuid::from_u128(3)),
        organization_id: OrganizationId::from_uuid(Uuid::from_u128(30)),
        email: EmailAddress::parse(email).unwrap(),
        display_name: None,
        password_hash: PasswordHash::new("phc".into()),
        default_plan: PlanId::free(),
        session_token: SecretToken::from_bytes([8; 32]),
        now: at(1),
    };
    let pending = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    let ok = sign_up(
        input("cy@example.com"),
        None,
        PresentedInvitation::Found(&pending),
    )
    .unwrap();
    assert_eq!(ok.outcome().active_organization_id, w.acme.id);
    assert!(matches!(
        ok.outcome().invitation,
        Some(InvitationOutcome::Accepted(_))
    ));
    let wrong = sign_up(
        input("dee@example.com"),
        None,
        PresentedInvitation::Found(&pending),
    )
    .unwrap();
    assert_eq!(
        wrong.outcome().invitation,
        Some(InvitationOutcome::NotAccepted {
            code: "invitation_email_mismatch"
        })
    );
    assert_ne!(wrong.outcome().active_organization_id, w.acme.id);
    let unknown = sign_up(input("dee@example.com"), None, PresentedInvitation::Unknown).unwrap();
    assert_eq!(
        unknown.outcome().invitation,
        Some(InvitationOutcome::NotAccepted { code: "not_found" })
    );
}

#[test]
fn sign_in_is_one_error_for_unknown_email_and_wrong_password() {
    let w = world();
    let token = SecretToken::from_bytes([3; 32]);
    let opened = sign_in(Some(&w.ann), true, &token, at(1)).unwrap();
    assert_eq!(*opened.outcome(), w.ann.id);
    assert!(matches!(
        &opened.changes()[0],
        Change::InsertSession(s) if s.token_hash == token.hash() && s.user_id == w.ann.id
    ));
    let wrong = sign_in(Some(&w.ann), false, &token, at(1)).unwrap_err();
    let unknown = sign_in(None, true, &token, at(1)).unwrap_err();
    assert_eq!(wrong.code(), "invalid_credentials");
    assert_eq!(wrong.to_string(), unknown.to_string());
}

#[test]
fn rename_needs_the_capability_and_membership() {
    let w = world();
    let name = OrganizationName::parse("New").unwrap();
    assert_eq!(
        codes(rename(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            name.clone()
        )),
        "ok"
    );
    assert_eq!(
        codes(rename(
            w.bob.id,
            Some(&w.acme),
            Some(&w.bob_viewer),
            name.clone()
        )),
        "forbidden"
    );
    assert_eq!(
        codes(rename(w.bob.id, Some(&w.acme), None, name.clone())),
        "not_found"
    );
    assert_eq!(
        codes(rename(w.ann.id, None, Some(&w.ann_owner), name.clone())),
        "not_found"
    );
    // A membership of someone else does not count.
    assert_eq!(
        codes(rename(w.bob.id, Some(&w.acme), Some(&w.ann_owner), name)),
        "not_found"
    );
}

fn invite_input(email: &str, role: Option<&str>) -> Invite {
    Invite {
        email: EmailAddress::parse(email).unwrap(),
        role: role.map(str::to_owned),
        invitation_id: InvitationId::from_uuid(Uuid::from_u128(99)),
        mail_id: MailId::from_uuid(Uuid::from_u128(98)),
        token: SecretToken::from_bytes([2; 32]),
        ttl: Duration::days(7),
        now: at(1),
    }
}

#[test]
fn invite_checks_role_membership_and_replaces_the_open_invitation() {
    let w = world();
    let snapshot = InviteSnapshot {
        organization: Some(&w.acme),
        inviter: &w.ann,
        inviter_membership: Some(&w.ann_owner),
        invitee_membership: None,
        open_invitation: None,
    };
    let decision = invite(snapshot, invite_input("cy@example.com", None)).unwrap();
    let created = decision.outcome();
    assert_eq!(created.expires_at, at(1) + Duration::days(7));
    assert_eq!(created.token_hash, SecretToken::from_bytes([2; 32]).hash());
    assert!(
        decision
            .changes()
            .iter()
            .any(|c| matches!(c, Change::EnqueueMail(_)))
    );
    for role in ["owner", "admin", "Viewer"] {
        assert_eq!(
            codes(invite(snapshot, invite_input("cy@example.com", Some(role)))),
            "role_not_assignable"
        );
    }
    assert_eq!(
        codes(invite(
            snapshot,
            invite_input("cy@example.com", Some("viewer"))
        )),
        "ok"
    );
    let as_viewer = InviteSnapshot {
        inviter: &w.bob,
        inviter_membership: Some(&w.bob_viewer),
        ..snapshot
    };
    assert_eq!(
        codes(invite(as_viewer, invite_input("cy@example.com", None))),
        "forbidden"
    );
    let member = InviteSnapshot {
        invitee_membership: Some(&w.bob_viewer),
        ..snapshot
    };
    assert_eq!(
        codes(invite(member, invite_input("bob@example.com", None))),
        "already_member"
    );

    let open = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    let replacing = InviteSnapshot {
        open_invitation: Some(&open),
        ..snapshot
    };
    let decision = invite(replacing, invite_input("cy@example.com", None)).unwrap();
    assert_eq!(
        decision.changes()[0],
        Change::SetInvitationState {
            organization_id: w.acme.id,
            invitation_id: open.id,
            state: InvitationState::Revoked { at: at(1) },
        }
    );
    // An open invitation that has already expired is closed as expired, so
    // its link keeps saying so.
    let mut late = invite_input("cy@example.com", None);
    late.now = at(24 * 8);
    let decision = invite(replacing, late).unwrap();
    assert_eq!(
        decision.changes()[0],
        Change::SetInvitationState {
            organization_id: w.acme.id,
            invitation_id: open.id,
            state: InvitationState::Expired,
        }
    );
}

#[test]
fn accept_distinguishes_every_dead_invitation() {
    let w = world();
    let cy = user(3, "cy@example.com");
    let cases = [
        (InvitationState::Pending, at(1), None, "ok"),
        (
            InvitationState::Pending,
            at(24 * 7),
            None,
            "invitation_expired",
        ),
        (InvitationState::Expired, at(1), None, "invitation_expired"),
        (
            InvitationState::Revoked { at: at(0) },
            at(1),
            None,
            "invitation_revoked",
        ),
        (
            InvitationState::Accepted {
                by: cy.id,
                at: at(0),
            },
            at(1),
            None,
            "invitation_already_accepted",
        ),
        (
            InvitationState::Accepted {
                by: cy.id,
                at: at(0),
            },
            at(24 * 30),
            Some(member(&w.acme, &cy, Role::Viewer)),
            "ok",
        ),
    ];
    for (state, now, membership, expected) in cases {
        let found = invitation(&w.acme, "cy@example.com", state);
        assert_eq!(
            codes(accept(&cy, membership.as_ref(), Some(&found), now)),
            expected,
            "{state:?} at {now}"
        );
    }
    let found = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    assert_eq!(
        codes(accept(&w.bob, None, Some(&found), at(1))),
        "invitation_email_mismatch"
    );
    assert_eq!(codes(accept(&cy, None, None, at(1))), "not_found");
    // Accepting joins as a viewer, uses the invitation up and switches to it.
    let decision = accept(&cy, None, Some(&found), at(1)).unwrap();
    assert_eq!(decision.outcome().role, Role::Viewer);
    assert!(decision.outcome().newly_joined);
    assert_eq!(decision.changes().len(), 3);
}

#[test]
fn revoke_is_scoped_to_the_organization() {
    let w = world();
    let other = org(11, &w.bob);
    let theirs = invitation(&other, "cy@example.com", InvitationState::Pending);
    assert_eq!(
        codes(revoke(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&theirs),
            at(1)
        )),
        "not_found"
    );
    let ours = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    let decision = revoke(
        w.ann.id,
        Some(&w.acme),
        Some(&w.ann_owner),
        Some(&ours),
        at(1),
    )
    .unwrap();
    assert_eq!(decision.changes().len(), 1);
    let used = invitation(
        &w.acme,
        "cy@example.com",
        InvitationState::Accepted {
            by: w.bob.id,
            at: at(0),
        },
    );
    assert_eq!(
        codes(revoke(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&used),
            at(1)
        )),
        "invitation_already_accepted"
    );
    let dead = invitation(
        &w.acme,
        "cy@example.com",
        InvitationState::Revoked { at: at(0) },
    );
    let again = revoke(
        w.ann.id,
        Some(&w.acme),
        Some(&w.ann_owner),
        Some(&dead),
        at(1),
    )
    .unwrap();
    assert!(again.changes().is_empty());
    assert_eq!(dead.status_at(at(1)), InvitationStatus::Revoked);
}

#[test]
fn remove_member_never_removes_the_owner_and_stays_in_its_organization() {
    let w = world();
    assert_eq!(
        codes(remove_member(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&w.bob_viewer)
        )),
        "ok"
    );
    assert_eq!(
        codes(remove_member(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&w.ann_owner)
        )),
        "owner_cannot_be_removed"
    );
    assert_eq!(
        codes(remove_member(
            w.bob.id,
            Some(&w.acme),
            Some(&w.bob_viewer),
            Some(&w.bob_viewer)
        )),
        "forbidden"
    );
    let elsewhere = member(&org(11, &w.bob), &w.bob, Role::Viewer);
    assert_eq!(
        codes(remove_member(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&elsewhere)
        )),
        "not_found"
    );
}

#[test]
fn the_active_organization_falls_back_to_the_oldest_owned_one() {
    let w = world();
    let bobs = org(11, &w.bob);
    let mut bob_owner = member(&bobs, &w.bob, Role::Owner);
    bob_owner.joined_at = at(5);
    let mut viewer = w.bob_viewer.clone();
    viewer.joined_at = at(1);
    let decision = resolve_active(
        w.bob.id,
        Some(w.acme.id),
        &[viewer.clone(), bob_owner.clone()],
    );
    assert_eq!(*decision.outcome(), Some(w.acme.id));
    assert!(decision.changes().is_empty());
    // Removed from Acme: back to their own, although Acme was joined earlier.
    let decision = resolve_active(w.bob.id, Some(w.acme.id), &[bob_owner.clone()]);
    assert_eq!(*decision.outcome(), Some(bobs.id));
    assert_eq!(decision.changes().len(), 1);
    let decision = resolve_active(w.bob.id, None, &[viewer, bob_owner]);
    assert_eq!(*decision.outcome(), Some(bobs.id));
    assert_eq!(*resolve_active(w.bob.id, None, &[]).outcome(), None);
}

#[test]
fn switching_needs_a_membership() {
    let w = world();
    assert_eq!(
        codes(switch_active(w.bob.id, w.acme.id, Some(&w.bob_viewer))),
        "ok"
    );
    assert_eq!(codes(switch_active(w.bob.id, w.acme.id, None)), "not_found");
}

#[test]
fn plan_changes_need_billing_and_a_known_plan() {
    let w = world();
    let catalog = PlanCatalog::builtin();
    let pro = PlanId::new("pro");
    let decision =
        change_plan(w.ann.id, Some(&w.acme), Some(&w.ann_owner), &pro, &catalog).unwrap();
    assert_eq!(decision.outcome().plan, pro);
    assert_eq!(
        codes(change_plan(
            w.bob.id,
            Some(&w.acme),
            Some(&w.bob_viewer),
            &pro,
            &catalog
        )),
        "forbidden"
    );
    assert_eq!(
        codes(change_plan(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            &PlanId::new("gold"),
            &catalog
        )),
        "validation_failed"
    );
}

#[test]
fn creates_check_the_capability_before_the_quota() {
    let w = world();
    let limits = Limits {
        agents: Some(1),
        ..Limits::default()
    };
    let full = Usage {
        agents: 1,
        ..Usage::default()
    };
    let empty = Usage::default();
    let id = ResourceId::from_uuid(Uuid::from_u128(5));
    let create = |m: &Membership, usage: &Usage| {
        codes(create_resource(
            m.user_id,
            Some(&w.acme),
            Some(m),
            ResourceKind::Agent,
            Quota {
                limits: &limits,
                usage,
            },
            id,
            at(1),
        ))
    };
    assert_eq!(create(&w.ann_owner, &empty), "ok");
    assert_eq!(create(&w.ann_owner, &full), "quota_exceeded");
    assert_eq!(create(&w.bob_viewer, &full), "forbidden");
}

#[test]
fn chat_messages_only_in_ones_own_chat_of_ones_organization() {
    let w = world();
    let agent = Resource {
        id: ResourceId::from_uuid(Uuid::from_u128(5)),
        organization_id: w.acme.id,
        kind: ResourceKind::Agent,
        created_by: w.ann.id,
        created_at: at(0),
    };
    let chat_id = ChatId::from_uuid(Uuid::from_u128(6));
    let chat = open_chat(
        w.bob.id,
        Some(&w.acme),
        Some(&w.bob_viewer),
        Some(&agent),
        chat_id,
        at(1),
    )
    .unwrap()
    .into_parts()
    .1;
    let report = Resource {
        kind: ResourceKind::Report,
        ..agent.clone()
    };
    assert_eq!(
        codes(open_chat(
            w.bob.id,
            Some(&w.acme),
            Some(&w.bob_viewer),
            Some(&report),
            chat_id,
            at(1)
        )),
        "not_found"
    );
    let limits = Limits {
        chat_messages_per_month: Some(1),
        ..Limits::default()
    };
    let send = |actor: &Membership, chat: Option<&Chat>, used: u64| {
        codes(send_chat_message(
            actor.user_id,
            Some(&w.acme),
            Some(actor),
            chat,
            Quota {
                limits: &limits,
                usage: &Usage {
                    chat_messages_this_month: used,
                    ..Usage::default()
                },
            },
            SendMessage {
                id: MessageId::from_uuid(Uuid::from_u128(7)),
                content: "hi".into(),
                now: at(2),
            },
        ))
    };
    assert_eq!(send(&w.bob_viewer, Some(&chat), 0), "ok");
    assert_eq!(send(&w.bob_viewer, Some(&chat), 1), "quota_exceeded");
    assert_eq!(send(&w.ann_owner, Some(&chat), 0), "not_found");
    assert_eq!(send(&w.bob_viewer, None, 0), "not_found");
    let moved = Chat {
        organization_id: org(11, &w.bob).id,
        ..chat
    };
    assert_eq!(send(&w.bob_viewer, Some(&moved), 0), "not_found");
}
