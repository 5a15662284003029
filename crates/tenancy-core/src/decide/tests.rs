//! Examples of each decision, including the defensive checks that the use
//! cases never exercise because they load snapshots correctly.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use zeroize::Zeroizing;

use super::*;
use crate::audit::{Action, Actor, AuditEntry, Changes, FieldChange, Label, Target, TargetKind};
use crate::entity::{
    AccountTokenState, ChatSubject, DEFAULT_DELETION_GRACE, InvitationState, InvitationStatus,
    SessionLifetimes, TRANSFER_TTL,
};
use crate::id::{ChatId, InvestigationId, MessageId, ReportRunId};
use crate::plan::{Limits, Metered, Plan, PlanCatalog, Usage};
use crate::policy::{Capability, CapabilitySet};
use crate::resource::{
    AGENT_CONNECTIONS_MAX, Agent, Connection, ConnectionType, ContentType, Definition, Description,
    Details, KnowledgeFile, NewResource, Report, ResourceKind, ResourceName, ResourcePatch,
    RunStatus, Schedule, Text,
};
use crate::value::{RoleDescription, RoleName};

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::hours(hours)
}

fn user(n: u128, email: &str) -> User {
    User {
        id: UserId::from_uuid(Uuid::from_u128(n)),
        email: EmailAddress::parse(email).unwrap(),
        display_name: None,
        email_verified: true,
        created_at: at(0),
    }
}

fn session(n: u128) -> SessionId {
    SessionId::from_uuid(Uuid::from_u128(n + 700))
}

fn link(n: u8) -> AccountLink {
    AccountLink {
        token_id: AccountTokenId::from_uuid(Uuid::from_u128(u128::from(n) + 500)),
        mail_id: MailId::from_uuid(Uuid::from_u128(u128::from(n) + 600)),
        token: SecretToken::from_bytes([n; 32]),
    }
}

fn org(n: u128, owner: &User) -> Organization {
    Organization {
        id: OrganizationId::from_uuid(Uuid::from_u128(n)),
        name: OrganizationName::parse("Acme").unwrap(),
        plan: PlanId::free(),
        owner_id: owner.id,
        created_at: at(0),
        deletion: None,
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
        role: Role::VIEWER,
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
        ann_owner: member(&acme, &ann, Role::OWNER),
        bob_viewer: member(&acme, &bob, Role::VIEWER),
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
        session_id: SessionId::from_uuid(Uuid::from_u128(4)),
        session_token: SecretToken::from_bytes([9; 32]),
        verification: link(10),
        verification_mail: AccountMail::Send,
        verification_ttl: Duration::days(1),
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
        Change::InsertMembership(Membership { role, .. }) if role.is_owner()
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
        session_id: SessionId::from_uuid(Uuid::from_u128(5)),
        session_token: SecretToken::from_bytes([8; 32]),
        verification: link(11),
        verification_mail: AccountMail::Send,
        verification_ttl: Duration::days(1),
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
    let matched = Some(PasswordMatched::of(w.ann.id));
    let opened = sign_in(Some(&w.ann), matched, session(7), &token, at(1)).unwrap();
    assert_eq!(*opened.outcome(), w.ann.id);
    assert!(matches!(
        &opened.changes()[0],
        Change::InsertSession(s) if s.token_hash == token.hash() && s.user_id == w.ann.id
    ));
    let wrong = sign_in(Some(&w.ann), None, session(7), &token, at(1)).unwrap_err();
    let unknown = sign_in(None, matched, session(7), &token, at(1)).unwrap_err();
    // A proof for another account opens nothing.
    let other = Some(PasswordMatched::of(w.bob.id));
    let stolen = sign_in(Some(&w.ann), other, session(7), &token, at(1)).unwrap_err();
    assert_eq!(stolen.code(), "invalid_credentials");
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
        inviter_must_be_verified: true,
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
        role: None,
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
    // The role asked for, as the store found it: the owner's is never
    // given, and a key the organization does not have is not assignable.
    fn found<'a>(snapshot: InviteSnapshot<'a>, role: &'a Role) -> InviteSnapshot<'a> {
        InviteSnapshot {
            role: Some(role),
            ..snapshot
        }
    }
    let [owner_role, admin, editor, viewer] = Role::BUILTIN;
    assert_eq!(
        codes(invite(
            found(snapshot, &owner_role),
            invite_input("cy@example.com", Some("owner"))
        )),
        "role_not_assignable"
    );
    assert_eq!(
        codes(invite(
            snapshot,
            invite_input("cy@example.com", Some("auditor"))
        )),
        "role_not_assignable"
    );
    // A role found under another key is no match either.
    assert_eq!(
        codes(invite(
            found(snapshot, &editor),
            invite_input("cy@example.com", Some("Editor"))
        )),
        "role_not_assignable"
    );
    for role in [&admin, &editor, &viewer] {
        let asked = Some(role.key().as_str());
        let decided = invite(found(snapshot, role), invite_input("cy@example.com", asked)).unwrap();
        assert_eq!(decided.outcome().role, *role);
        // The email says which role it grants.
        let mail = decided.changes().iter().find_map(|c| match c {
            Change::EnqueueMail(mail) => Some(mail.render("https://app.example")),
            _ => None,
        });
        let text = mail.map(|m| m.text).unwrap_or_default();
        assert!(
            text.contains(&format!("with the role {}.", role.name())),
            "{text}"
        );
    }
    // No escalation (D14): a member who manages members but holds little
    // else gives only roles within what they hold.
    let narrow = Role::custom(
        RoleKey::custom("gatekeeper").unwrap(),
        RoleName::parse("Gatekeeper").unwrap(),
        RoleDescription::default(),
        CapabilitySet::of(&[Capability::ViewResources, Capability::ManageMembers]),
    )
    .unwrap();
    let gatekeeper = Membership {
        role: narrow.clone(),
        ..w.bob_viewer.clone()
    };
    let by_gatekeeper = InviteSnapshot {
        inviter: &w.bob,
        inviter_membership: Some(&gatekeeper),
        ..snapshot
    };
    for role in [&admin, &editor, &viewer] {
        let asked = Some(role.key().as_str());
        assert_eq!(
            codes(invite(
                found(by_gatekeeper, role),
                invite_input("cy@example.com", asked)
            )),
            "role_not_assignable",
            "{role:?}"
        );
    }
    assert_eq!(
        codes(invite(
            found(by_gatekeeper, &narrow),
            invite_input("cy@example.com", Some("gatekeeper"))
        )),
        "ok"
    );
    // The default role is no exception.
    assert_eq!(
        codes(invite(by_gatekeeper, invite_input("cy@example.com", None))),
        "role_not_assignable"
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
            Some(member(&w.acme, &cy, Role::VIEWER)),
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
    assert_eq!(decision.outcome().role, Role::VIEWER);
    assert!(decision.outcome().newly_joined);
    assert_eq!(decision.changes().len(), 5);
    assert_eq!(
        decision.changes(),
        [
            Change::SetInvitationState {
                organization_id: w.acme.id,
                invitation_id: found.id,
                state: InvitationState::Accepted {
                    by: cy.id,
                    at: at(1),
                },
            },
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::InvitationAccepted,
                Actor::User(cy.id),
                Target::new(TargetKind::Invitation, found.id, "cy@example.com"),
            )),
            Change::InsertMembership(Membership {
                organization_id: w.acme.id,
                user_id: cy.id,
                role: Role::VIEWER,
                joined_at: at(1),
            }),
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::MemberAdded,
                Actor::User(cy.id),
                Target::user(cy.id),
            )),
            Change::SetActiveOrganization {
                user_id: cy.id,
                organization_id: w.acme.id,
            },
        ]
    );
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
    assert_eq!(decision.changes().len(), 2);
    assert_eq!(
        decision.changes(),
        [
            Change::SetInvitationState {
                organization_id: w.acme.id,
                invitation_id: ours.id,
                state: InvitationState::Revoked { at: at(1) },
            },
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::InvitationRevoked,
                Actor::User(w.ann.id),
                Target::new(TargetKind::Invitation, ours.id, "cy@example.com"),
            )),
        ]
    );
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
fn a_member_leaves_as_if_removed_and_the_owner_cannot() {
    let w = world();
    let left = leave(w.bob.id, Some(&w.acme), Some(&w.bob_viewer), None).unwrap();
    assert_eq!(
        left.changes(),
        [
            Change::DeleteMembership {
                organization_id: w.acme.id,
                user_id: w.bob.id,
            },
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::MemberLeft,
                Actor::User(w.bob.id),
                Target::user(w.bob.id),
            )),
        ]
    );
    assert_eq!(
        codes(leave(w.ann.id, Some(&w.acme), Some(&w.ann_owner), None)),
        "owner_cannot_leave"
    );
    // Nobody leaves what they are not a member of, nor in someone's name.
    assert_eq!(
        codes(leave(w.bob.id, Some(&w.acme), None, None)),
        "not_found"
    );
    assert_eq!(
        codes(leave(w.ann.id, Some(&w.acme), Some(&w.bob_viewer), None)),
        "not_found"
    );
    assert_eq!(
        codes(leave(w.bob.id, None, Some(&w.bob_viewer), None)),
        "not_found"
    );
}

#[test]
fn remove_member_never_removes_the_owner_and_stays_in_its_organization() {
    let w = world();
    assert_eq!(
        codes(remove_member(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&w.bob_viewer),
            None
        )),
        "ok"
    );
    assert_eq!(
        codes(remove_member(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&w.ann_owner),
            None
        )),
        "owner_cannot_be_removed"
    );
    assert_eq!(
        codes(remove_member(
            w.bob.id,
            Some(&w.acme),
            Some(&w.bob_viewer),
            Some(&w.bob_viewer),
            None
        )),
        "forbidden"
    );
    let elsewhere = member(&org(11, &w.bob), &w.bob, Role::VIEWER);
    assert_eq!(
        codes(remove_member(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&elsewhere),
            None
        )),
        "not_found"
    );
}

#[test]
fn the_active_organization_falls_back_to_the_oldest_owned_one() {
    let w = world();
    let bobs = org(11, &w.bob);
    let mut bob_owner = member(&bobs, &w.bob, Role::OWNER);
    bob_owner.joined_at = at(5);
    let mut viewer = w.bob_viewer.clone();
    viewer.joined_at = at(1);
    let decision = resolve_active(
        w.bob.id,
        Some(w.acme.id),
        None,
        &[viewer.clone(), bob_owner.clone()],
    );
    assert_eq!(*decision.outcome(), Some(w.acme.id));
    assert!(decision.changes().is_empty());
    // Removed from Acme: back to their own, although Acme was joined earlier.
    let decision = resolve_active(w.bob.id, Some(w.acme.id), None, &[bob_owner.clone()]);
    assert_eq!(*decision.outcome(), Some(bobs.id));
    assert_eq!(decision.changes().len(), 1);
    let decision = resolve_active(w.bob.id, None, None, &[viewer, bob_owner]);
    assert_eq!(*decision.outcome(), Some(bobs.id));
    assert_eq!(*resolve_active(w.bob.id, None, None, &[]).outcome(), None);
}

#[test]
fn the_active_organization_falls_back_to_the_default_one_while_it_is_reachable() {
    let w = world();
    // Bob gave his default organization (made at sign-up) away: he is an
    // admin there now, and owns a newer one.
    let default = org(11, &w.ann);
    let mut admin = member(&default, &w.bob, Role::ADMIN);
    admin.joined_at = at(0);
    let newer = org(12, &w.bob);
    let mut owner = member(&newer, &w.bob, Role::OWNER);
    owner.joined_at = at(3);
    let stale = Some(w.acme.id);
    let decision = resolve_active(
        w.bob.id,
        stale,
        Some(default.id),
        &[owner.clone(), admin.clone()],
    );
    assert_eq!(*decision.outcome(), Some(default.id));
    assert_eq!(
        decision.changes(),
        [Change::SetActiveOrganization {
            user_id: w.bob.id,
            organization_id: default.id
        }]
    );
    // Out of it too: the oldest one he owns.
    let decision = resolve_active(w.bob.id, stale, Some(default.id), &[owner.clone()]);
    assert_eq!(*decision.outcome(), Some(newer.id));
    // His own one pending deletion (no longer among those that may be
    // active): back to the default one, where he is an admin.
    let decision = resolve_active(w.bob.id, Some(newer.id), Some(default.id), &[admin.clone()]);
    assert_eq!(*decision.outcome(), Some(default.id));
    // And a reachable stored choice stands.
    let decision = resolve_active(w.bob.id, Some(default.id), Some(newer.id), &[admin, owner]);
    assert!(decision.changes().is_empty());
    assert_eq!(*decision.outcome(), Some(default.id));
}

#[test]
fn switching_needs_a_membership() {
    let w = world();
    assert_eq!(
        codes(switch_active(
            w.bob.id,
            w.acme.id,
            Some(&w.acme),
            Some(&w.bob_viewer)
        )),
        "ok"
    );
    assert_eq!(
        codes(switch_active(w.bob.id, w.acme.id, Some(&w.acme), None)),
        "not_found"
    );
}

#[test]
fn plan_changes_need_billing_and_a_known_plan() {
    let w = world();
    let catalog = PlanCatalog::builtin();
    let pro = PlanId::new("pro");
    let ann = PlanChanger::Member(w.ann.id);
    let decision = change_plan(ann, Some(&w.acme), Some(&w.ann_owner), &pro, &catalog).unwrap();
    assert_eq!(decision.outcome().plan, pro);
    assert_eq!(
        decision.changes(),
        [
            Change::ChangePlan {
                organization_id: w.acme.id,
                plan: pro.clone()
            },
            Change::Audit(
                AuditEntry::new(
                    w.acme.id,
                    Action::OrganizationPlanChanged,
                    Actor::User(w.ann.id),
                    Target::new(TargetKind::Organization, w.acme.id, "Acme"),
                )
                .changing("plan", "free", "pro")
            ),
        ]
    );
    assert_eq!(
        codes(change_plan(
            PlanChanger::Member(w.bob.id),
            Some(&w.acme),
            Some(&w.bob_viewer),
            &pro,
            &catalog
        )),
        "forbidden"
    );
    assert_eq!(
        codes(change_plan(
            ann,
            Some(&w.acme),
            Some(&w.ann_owner),
            &PlanId::new("gold"),
            &catalog
        )),
        "validation_failed"
    );
}

#[test]
fn members_pick_only_self_serve_plans_and_the_host_sets_any() {
    let w = world();
    let catalog = PlanCatalog::builtin();
    let enterprise = PlanId::new("enterprise");
    let ann = PlanChanger::Member(w.ann.id);
    // Even the owner cannot pick a plan that is not self-serve.
    let refused = change_plan(
        ann,
        Some(&w.acme),
        Some(&w.ann_owner),
        &enterprise,
        &catalog,
    );
    assert!(
        matches!(&refused, Err(Error::PlanNotSelectable(plan)) if *plan == enterprise),
        "{refused:?}"
    );
    assert_eq!(codes(refused), "plan_not_selectable");
    // The capability and the organization come first: a viewer is told
    // `forbidden`, a non-member `not_found`, never which plans are closed.
    assert_eq!(
        codes(change_plan(
            PlanChanger::Member(w.bob.id),
            Some(&w.acme),
            Some(&w.bob_viewer),
            &enterprise,
            &catalog
        )),
        "forbidden"
    );
    assert_eq!(
        codes(change_plan(
            PlanChanger::Member(w.bob.id),
            Some(&w.acme),
            None,
            &enterprise,
            &catalog
        )),
        "not_found"
    );
    // The host sets it, without a membership.
    let decision = change_plan(
        PlanChanger::Host,
        Some(&w.acme),
        None,
        &enterprise,
        &catalog,
    )
    .unwrap();
    assert_eq!(
        decision.changes(),
        [
            Change::ChangePlan {
                organization_id: w.acme.id,
                plan: enterprise.clone()
            },
            Change::Audit(AuditEntry {
                organization_id: w.acme.id,
                action: Action::OrganizationPlanChanged,
                actor: Actor::Service,
                target: Target::new(TargetKind::Organization, w.acme.id, "Acme"),
                changes: Some(Changes::from([(
                    "plan".to_owned(),
                    FieldChange {
                        from: "free".into(),
                        to: "enterprise".into(),
                    },
                )])),
            }),
        ]
    );
    assert_eq!(decision.outcome().plan, enterprise);
    // ... and back down to a self-serve one.
    let free = PlanId::free();
    assert_eq!(
        codes(change_plan(
            PlanChanger::Host,
            Some(&w.acme),
            None,
            &free,
            &catalog
        )),
        "ok"
    );
    // But not an unknown plan, nor in an organization that does not exist.
    assert_eq!(
        codes(change_plan(
            PlanChanger::Host,
            Some(&w.acme),
            None,
            &PlanId::new("gold"),
            &catalog
        )),
        "validation_failed"
    );
    assert_eq!(
        codes(change_plan(
            PlanChanger::Host,
            None,
            None,
            &enterprise,
            &catalog
        )),
        "not_found"
    );
    // An unknown plan is invalid before any plan is judged selectable.
    let closed = PlanCatalog::new(vec![Plan {
        self_serve: false,
        ..catalog.plans()[0].clone()
    }])
    .unwrap();
    assert_eq!(
        codes(change_plan(
            ann,
            Some(&w.acme),
            Some(&w.ann_owner),
            &PlanId::new("gold"),
            &closed
        )),
        "validation_failed"
    );
    assert_eq!(
        codes(change_plan(
            ann,
            Some(&w.acme),
            Some(&w.ann_owner),
            &free,
            &closed
        )),
        "plan_not_selectable"
    );
}

// Resources and what members do with them.

fn rid(n: u128) -> ResourceId {
    ResourceId::from_uuid(Uuid::from_u128(n))
}

fn resource(org: &Organization, n: u128, details: Details) -> Resource {
    Resource {
        id: rid(n),
        organization_id: org.id,
        name: ResourceName::parse(&format!("Resource {n}")).unwrap(),
        details,
        created_by: org.owner_id,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn agent_of(org: &Organization, n: u128, connection_ids: &[ResourceId]) -> Resource {
    resource(
        org,
        n,
        Details::Agent(Agent {
            description: Description::empty(),
            connection_ids: connection_ids.to_vec(),
        }),
    )
}

fn of_kind(org: &Organization, n: u128, kind: ResourceKind) -> Resource {
    let details = match kind {
        ResourceKind::Agent => return agent_of(org, n, &[]),
        ResourceKind::Connection => Details::Connection(Connection {
            connection_type: ConnectionType::parse("postgres").unwrap(),
            credentials_updated_at: Some(at(0)),
        }),
        ResourceKind::Report => Details::Report(Report {
            definition: Definition::parse(serde_json::Map::new()).unwrap(),
            schedule: None,
        }),
        ResourceKind::KnowledgeFile => Details::KnowledgeFile(KnowledgeFile {
            content_type: ContentType::octet_stream(),
            size_bytes: 3,
            sha256: "ab".repeat(32),
        }),
    };
    resource(org, n, details)
}

fn credentials(secret: &str) -> Credentials {
    Credentials::parse([("api_key".to_owned(), Zeroizing::new(secret.to_owned()))]).unwrap()
}

fn new_of(kind: ResourceKind, connection_ids: &[ResourceId]) -> NewResource {
    let name = ResourceName::parse("Cost bot").unwrap();
    match kind {
        ResourceKind::Agent => NewResource::Agent {
            name,
            description: Description::empty(),
            connection_ids: connection_ids.to_vec(),
        },
        ResourceKind::Connection => NewResource::Connection {
            label: name,
            connection_type: ConnectionType::parse("postgres").unwrap(),
            credentials: credentials("s3cr3t"),
        },
        ResourceKind::Report => NewResource::Report {
            name,
            definition: Definition::parse(serde_json::Map::new()).unwrap(),
        },
        ResourceKind::KnowledgeFile => NewResource::KnowledgeFile {
            name,
            content_type: ContentType::octet_stream(),
            size_bytes: 3,
            sha256: "ab".repeat(32),
        },
    }
}

/// A rename of a resource of `kind`; knowledge files have no patch.
fn rename_of(kind: ResourceKind) -> Option<ResourcePatch> {
    let name = Some(ResourceName::parse("Renamed").unwrap());
    match kind {
        ResourceKind::Agent => Some(ResourcePatch::Agent {
            name,
            description: None,
            connection_ids: None,
        }),
        ResourceKind::Connection => Some(ResourcePatch::Connection { label: name }),
        ResourceKind::Report => Some(ResourcePatch::Report {
            name,
            definition: None,
        }),
        ResourceKind::KnowledgeFile => None,
    }
}

fn owner(w: &World) -> Access<'_> {
    Access {
        actor: w.ann.id,
        organization: Some(&w.acme),
        membership: Some(&w.ann_owner),
    }
}

fn viewer(w: &World) -> Access<'_> {
    Access {
        actor: w.bob.id,
        organization: Some(&w.acme),
        membership: Some(&w.bob_viewer),
    }
}

/// Someone who is not a member of Acme.
fn outsider(w: &World) -> Access<'_> {
    Access {
        actor: UserId::from_uuid(Uuid::from_u128(3)),
        organization: Some(&w.acme),
        membership: None,
    }
}

/// An organization that does not exist, asked by someone who would own it.
fn nowhere(w: &World) -> Access<'_> {
    Access {
        organization: None,
        ..owner(w)
    }
}

const NO_LIMITS: Limits = Limits::UNLIMITED;

fn unlimited() -> Quota<'static> {
    const NOTHING_USED: Usage = Usage {
        agents: 0,
        connections: 0,
        reports: 0,
        chat_messages_this_month: 0,
        knowledge_files: 0,
        storage_bytes: 0,
    };
    Quota {
        limits: &NO_LIMITS,
        usage: &NOTHING_USED,
    }
}

fn is_forbidden<T: std::fmt::Debug>(result: Result<T, Error>, wanted: Capability) -> bool {
    matches!(
        result,
        Err(Error::Forbidden { role, capability }) if capability == wanted && role == RoleKey::VIEWER
    )
}

fn is_missing<T: std::fmt::Debug>(result: Result<T, Error>, wanted: Missing) -> bool {
    matches!(result, Err(Error::NotFound(missing)) if missing == wanted)
}

#[test]
fn each_kind_is_managed_by_its_capability_and_viewers_only_look() {
    let w = world();
    for kind in ResourceKind::ALL {
        let capability = Operation::CreateResource(kind).capability();
        let found = of_kind(&w.acme, 5, kind);
        let created = create_resource(
            owner(&w),
            unlimited(),
            &[],
            new_of(kind, &[]),
            rid(6),
            at(1),
        )
        .unwrap();
        assert_eq!(created.outcome().kind(), kind);
        assert!(
            is_forbidden(
                create_resource(
                    viewer(&w),
                    unlimited(),
                    &[],
                    new_of(kind, &[]),
                    rid(6),
                    at(1)
                ),
                capability
            ),
            "{kind}"
        );
        if let Some(patch) = rename_of(kind) {
            let renamed = update_resource(owner(&w), Some(&found), &[], patch.clone(), at(1));
            assert_eq!(renamed.unwrap().outcome().name.as_str(), "Renamed");
            assert!(
                is_forbidden(
                    update_resource(viewer(&w), Some(&found), &[], patch, at(1)),
                    capability
                ),
                "{kind}"
            );
        }
        assert_eq!(
            codes(delete_resource(owner(&w), kind, Some(&found), &[], at(1))),
            "ok"
        );
        assert!(
            is_forbidden(
                delete_resource(viewer(&w), kind, Some(&found), &[], at(1)),
                capability
            ),
            "{kind}"
        );
        // Viewers see every kind.
        assert_eq!(
            view_resource(viewer(&w), kind, Some(&found)).unwrap(),
            &found
        );
    }
    let connection = of_kind(&w.acme, 5, ResourceKind::Connection);
    assert!(is_forbidden(
        set_credentials(viewer(&w), Some(&connection), credentials("x"), at(1)),
        Capability::ManageConnections
    ));
    let report = of_kind(&w.acme, 7, ResourceKind::Report);
    let schedule = Schedule::parse("0 9 * * 1-5", None).unwrap();
    assert!(is_forbidden(
        set_schedule(viewer(&w), Some(&report), Some(schedule), at(1)),
        Capability::ManageSchedules
    ));
    let run_id = ReportRunId::from_uuid(Uuid::from_u128(8));
    assert!(is_forbidden(
        trigger_run(viewer(&w), Some(&report), run_id, at(1)),
        Capability::TriggerReportRuns
    ));
}

#[test]
fn viewers_pin_chat_investigate_and_talk_about_runs() {
    let w = world();
    let agent = agent_of(&w.acme, 5, &[]);
    let report = of_kind(&w.acme, 6, ResourceKind::Report);
    let run = trigger_run(
        owner(&w),
        Some(&report),
        ReportRunId::from_uuid(Uuid::from_u128(7)),
        at(1),
    )
    .unwrap()
    .into_parts()
    .1;
    let pinned = pin(
        viewer(&w),
        ResourceKind::Agent,
        Some(&agent),
        &[],
        PinId::from_uuid(Uuid::from_u128(8)),
        at(2),
    )
    .unwrap();
    assert_eq!(
        (pinned.outcome().user_id, pinned.outcome().item_id),
        (w.bob.id, agent.id)
    );
    let chat_id = ChatId::from_uuid(Uuid::from_u128(9));
    let chat = open_chat(viewer(&w), ChatTarget::Agent(Some(&agent)), chat_id, at(2)).unwrap();
    assert_eq!(chat.outcome().subject, ChatSubject::Agent(agent.id));
    assert_eq!(chat.outcome().created_by, w.bob.id);
    let about_run = open_chat(
        viewer(&w),
        ChatTarget::ReportRun(Some(&run)),
        chat_id,
        at(2),
    )
    .unwrap();
    assert_eq!(
        about_run.outcome().subject,
        ChatSubject::ReportRun {
            report_id: report.id,
            run_id: run.id
        }
    );
    assert_eq!(
        about_run.changes(),
        [Change::InsertChat(about_run.outcome().clone())]
    );
    let question = Text::parse("Why did costs spike?").unwrap();
    let investigation = start_investigation(
        viewer(&w),
        Some(&agent),
        question.clone(),
        InvestigationId::from_uuid(Uuid::from_u128(10)),
        at(2),
    )
    .unwrap();
    assert_eq!(
        (
            investigation.outcome().agent_id,
            investigation.outcome().created_by,
            &investigation.outcome().question,
            investigation.outcome().status
        ),
        (agent.id, w.bob.id, &question, RunStatus::Queued)
    );
}

#[test]
fn a_non_member_learns_nothing_even_about_what_does_not_exist() {
    let w = world();
    let agent = agent_of(&w.acme, 5, &[]);
    let report = of_kind(&w.acme, 6, ResourceKind::Report);
    for access in [outsider(&w), nowhere(&w)] {
        let org = Missing::Organization;
        for kind in ResourceKind::ALL {
            let new = new_of(kind, &[]);
            assert!(is_missing(
                create_resource(access, unlimited(), &[], new, rid(6), at(1)),
                org
            ));
            assert!(is_missing(
                delete_resource(access, kind, None, &[], at(1)),
                org
            ));
            assert!(is_missing(view_resource(access, kind, None), org));
        }
        assert!(is_missing(
            update_resource(
                access,
                Some(&agent),
                &[],
                rename_of(ResourceKind::Agent).unwrap(),
                at(1)
            ),
            org
        ));
        assert!(is_missing(
            set_credentials(access, None, credentials("x"), at(1)),
            org
        ));
        assert!(is_missing(
            set_schedule(access, Some(&report), None, at(1)),
            org
        ));
        assert!(is_missing(
            trigger_run(
                access,
                Some(&report),
                ReportRunId::from_uuid(Uuid::nil()),
                at(1)
            ),
            org
        ));
        let pin_id = PinId::from_uuid(Uuid::nil());
        assert!(is_missing(
            pin(
                access,
                ResourceKind::Agent,
                Some(&agent),
                &[],
                pin_id,
                at(1)
            ),
            org
        ));
        assert!(is_missing(unpin(access, None), org));
        let chat_id = ChatId::from_uuid(Uuid::nil());
        assert!(is_missing(
            open_chat(access, ChatTarget::Agent(Some(&agent)), chat_id, at(1)),
            org
        ));
        assert!(is_missing(
            open_chat(access, ChatTarget::ReportRun(None), chat_id, at(1)),
            org
        ));
        assert!(is_missing(own_chat(access, None), org));
        assert!(is_missing(
            start_investigation(
                access,
                Some(&agent),
                Text::parse("why").unwrap(),
                InvestigationId::from_uuid(Uuid::nil()),
                at(1)
            ),
            org
        ));
    }
}

#[test]
fn resources_of_another_organization_or_another_kind_are_missing() {
    let w = world();
    let globex = org(11, &w.bob);
    let resource_missing = Missing::Resource;
    for kind in ResourceKind::ALL {
        let theirs = of_kind(&globex, 5, kind);
        let other_kind = ResourceKind::ALL
            .into_iter()
            .find(|k| *k != kind)
            .map(|k| of_kind(&w.acme, 6, k))
            .unwrap();
        for found in [Some(&theirs), Some(&other_kind), None] {
            assert!(is_missing(
                delete_resource(owner(&w), kind, found, &[], at(1)),
                resource_missing
            ));
            assert!(is_missing(
                view_resource(owner(&w), kind, found),
                resource_missing
            ));
            if let Some(patch) = rename_of(kind) {
                assert!(is_missing(
                    update_resource(owner(&w), found, &[], patch, at(1)),
                    resource_missing
                ));
            }
            if kind.pinnable() {
                let pin_id = PinId::from_uuid(Uuid::nil());
                assert!(is_missing(
                    pin(viewer(&w), kind, found, &[], pin_id, at(1)),
                    resource_missing
                ));
            }
            match kind {
                ResourceKind::Connection => assert!(is_missing(
                    set_credentials(owner(&w), found, credentials("x"), at(1)),
                    resource_missing
                )),
                ResourceKind::Report => {
                    assert!(is_missing(
                        set_schedule(owner(&w), found, None, at(1)),
                        resource_missing
                    ));
                    let run_id = ReportRunId::from_uuid(Uuid::nil());
                    assert!(is_missing(
                        trigger_run(owner(&w), found, run_id, at(1)),
                        resource_missing
                    ));
                }
                ResourceKind::Agent => {
                    let chat_id = ChatId::from_uuid(Uuid::nil());
                    assert!(is_missing(
                        open_chat(viewer(&w), ChatTarget::Agent(found), chat_id, at(1)),
                        resource_missing
                    ));
                    assert!(is_missing(
                        start_investigation(
                            viewer(&w),
                            found,
                            Text::parse("why").unwrap(),
                            InvestigationId::from_uuid(Uuid::nil()),
                            at(1)
                        ),
                        resource_missing
                    ));
                }
                ResourceKind::KnowledgeFile => {}
            }
        }
    }
    // A report run of another organization is as missing as an unknown one.
    let their_run = ReportRun {
        id: ReportRunId::from_uuid(Uuid::from_u128(7)),
        organization_id: globex.id,
        report_id: rid(5),
        status: RunStatus::Queued,
        triggered_by: w.bob.id,
        created_at: at(0),
    };
    let chat_id = ChatId::from_uuid(Uuid::nil());
    for run in [Some(&their_run), None] {
        assert!(is_missing(
            open_chat(viewer(&w), ChatTarget::ReportRun(run), chat_id, at(1)),
            Missing::ReportRun
        ));
    }
}

#[test]
fn creates_check_the_capability_then_the_quota_and_change_nothing_when_full() {
    let w = world();
    let limits = Limits {
        agents: Some(1),
        connections: Some(2),
        reports: Some(0),
        chat_messages_per_month: Some(0),
        knowledge_files: Some(4),
        storage_bytes: None,
    };
    for (kind, limit) in [
        (ResourceKind::Agent, 1),
        (ResourceKind::Connection, 2),
        (ResourceKind::Report, 0),
        (ResourceKind::KnowledgeFile, 4),
    ] {
        let metered = kind.metered().unwrap();
        let usage_of = |used: u64| {
            let mut usage = Usage::default();
            match metered {
                Metered::Agents => usage.agents = used,
                Metered::Connections => usage.connections = used,
                Metered::Reports => usage.reports = used,
                _ => usage.knowledge_files = used,
            }
            usage
        };
        let create = |access: Access<'_>, used: u64| {
            let usage = usage_of(used);
            let quota = Quota {
                limits: &limits,
                usage: &usage,
            };
            create_resource(access, quota, &[], new_of(kind, &[]), rid(5), at(1))
        };
        if limit > 0 {
            assert_eq!(codes(create(owner(&w), limit - 1)), "ok", "{kind}");
        }
        // At the limit, and above it after a downgrade: refused, and an
        // error carries no changes to commit.
        for used in [limit, limit + 3] {
            let refused = create(owner(&w), used);
            assert!(
                matches!(
                    &refused,
                    Err(Error::QuotaExceeded(q)) if q.metered == metered && q.limit == limit && q.used == used
                ),
                "{kind}: {refused:?}"
            );
        }
        // The capability comes first: a viewer learns nothing about quotas.
        assert!(is_forbidden(
            create(viewer(&w), limit),
            Operation::CreateResource(kind).capability()
        ));
    }
    // Other kinds' quotas do not hold a knowledge file back.
    let full = Usage {
        agents: 99,
        connections: 99,
        reports: 99,
        chat_messages_this_month: 99,
        knowledge_files: 0,
        storage_bytes: 0,
    };
    let zero = Limits {
        agents: Some(0),
        connections: Some(0),
        reports: Some(0),
        chat_messages_per_month: Some(0),
        ..Limits::UNLIMITED
    };
    let quota = Quota {
        limits: &zero,
        usage: &full,
    };
    let file = create_resource(
        owner(&w),
        quota,
        &[],
        new_of(ResourceKind::KnowledgeFile, &[]),
        rid(5),
        at(1),
    );
    assert_eq!(codes(file), "ok");
}

#[test]
fn a_knowledge_file_fits_when_its_bytes_reach_the_storage_limit_and_not_past_it() {
    let w = world();
    let limits = Limits {
        knowledge_files: Some(10),
        storage_bytes: Some(100),
        ..Limits::UNLIMITED
    };
    let file_of = |size_bytes: u64| NewResource::KnowledgeFile {
        name: ResourceName::parse("notes.md").unwrap(),
        content_type: ContentType::octet_stream(),
        size_bytes,
        sha256: "ab".repeat(32),
    };
    let upload = |access: Access<'_>, stored: u64, size: u64| {
        let usage = Usage {
            knowledge_files: 3,
            storage_bytes: stored,
            ..Usage::default()
        };
        let quota = Quota {
            limits: &limits,
            usage: &usage,
        };
        create_resource(access, quota, &[], file_of(size), rid(5), at(1))
    };
    // Exactly up to the limit: stored.
    let decision = upload(owner(&w), 60, 40).unwrap();
    assert!(matches!(
        decision.changes(),
        [Change::InsertResource(Resource {
            details: Details::KnowledgeFile(KnowledgeFile { size_bytes: 40, .. }),
            ..
        })]
    ));
    // One byte more, or any file once over the limit after a downgrade: refused.
    for (stored, size) in [(60, 41), (100, 1), (150, 0), (0, 101)] {
        let refused = upload(owner(&w), stored, size);
        assert!(
            matches!(
                &refused,
                Err(Error::QuotaExceeded(q))
                    if q.metered == Metered::StorageBytes
                        && (q.limit, q.used, q.adding) == (100, stored, size)
            ),
            "{stored} + {size}: {refused:?}"
        );
    }
    // The count is judged first; a viewer learns neither.
    let usage = Usage {
        knowledge_files: 10,
        storage_bytes: 100,
        ..Usage::default()
    };
    let full = Quota {
        limits: &limits,
        usage: &usage,
    };
    let refused = create_resource(owner(&w), full, &[], file_of(1), rid(5), at(1));
    assert!(
        matches!(&refused, Err(Error::QuotaExceeded(q)) if q.metered == Metered::KnowledgeFiles),
        "{refused:?}"
    );
    assert!(is_forbidden(
        create_resource(viewer(&w), full, &[], file_of(1), rid(5), at(1)),
        Capability::UploadKnowledgeFiles
    ));
    // Without limits, any size is stored.
    assert_eq!(
        codes(create_resource(
            owner(&w),
            unlimited(),
            &[],
            file_of(u64::MAX),
            rid(5),
            at(1)
        )),
        "ok"
    );
}

#[test]
fn an_upload_starts_only_with_the_capability_and_room_for_a_file() {
    let w = world();
    let limits = Limits {
        knowledge_files: Some(2),
        storage_bytes: Some(100),
        ..Limits::UNLIMITED
    };
    let start = |access: Access<'_>, files: u64, bytes: u64| {
        let usage = Usage {
            knowledge_files: files,
            storage_bytes: bytes,
            ..Usage::default()
        };
        start_upload(
            access,
            Quota {
                limits: &limits,
                usage: &usage,
            },
        )
        .map(|grant| grant.capability())
    };
    assert_eq!(
        start(owner(&w), 1, 100).ok(),
        Some(Capability::UploadKnowledgeFiles)
    );
    // The next file's bytes are unknown: only storage already past the
    // limit (after a downgrade) refuses before the content is read.
    assert_eq!(codes(start(owner(&w), 1, 101)), "quota_exceeded");
    assert_eq!(codes(start(owner(&w), 2, 0)), "quota_exceeded");
    assert!(is_forbidden(
        start(viewer(&w), 2, 101),
        Capability::UploadKnowledgeFiles
    ));
    assert_eq!(codes(start(nowhere(&w), 0, 0)), "not_found");
}

#[test]
fn agents_use_only_connections_of_their_organization_without_repeats() {
    let w = world();
    let globex = org(11, &w.bob);
    let ours = of_kind(&w.acme, 20, ResourceKind::Connection);
    let ours_too = of_kind(&w.acme, 21, ResourceKind::Connection);
    let theirs = of_kind(&globex, 22, ResourceKind::Connection);
    let report = of_kind(&w.acme, 23, ResourceKind::Report);
    let known = [
        ours.clone(),
        ours_too.clone(),
        theirs.clone(),
        report.clone(),
    ];
    let create = |wanted: &[ResourceId]| {
        create_resource(
            owner(&w),
            unlimited(),
            &known,
            new_of(ResourceKind::Agent, wanted),
            rid(5),
            at(1),
        )
    };
    let created = create(&[ours.id, ours_too.id, ours.id]).unwrap();
    assert_eq!(created.outcome().connection_ids(), [ours.id, ours_too.id]);
    for bad in [theirs.id, report.id, rid(99)] {
        let refused = create(&[ours.id, bad]);
        assert!(
            matches!(&refused, Err(Error::NotFound(Missing::Connection))),
            "{bad}: {refused:?}"
        );
    }
    // At most 50 distinct connections; repeats do not count.
    let many: Vec<Resource> = (0..=AGENT_CONNECTIONS_MAX as u128)
        .map(|n| of_kind(&w.acme, 100 + n, ResourceKind::Connection))
        .collect();
    let ids: Vec<ResourceId> = many.iter().map(|c| c.id).collect();
    let too_many = create_resource(
        owner(&w),
        unlimited(),
        &many,
        new_of(ResourceKind::Agent, &ids),
        rid(5),
        at(1),
    );
    assert_eq!(codes(too_many), "validation_failed");
    let repeated: Vec<ResourceId> = ids[..AGENT_CONNECTIONS_MAX]
        .iter()
        .chain(&ids[..AGENT_CONNECTIONS_MAX])
        .copied()
        .collect();
    let fits = create_resource(
        owner(&w),
        unlimited(),
        &many,
        new_of(ResourceKind::Agent, &repeated),
        rid(5),
        at(1),
    );
    assert_eq!(
        fits.unwrap().outcome().connection_ids().len(),
        AGENT_CONNECTIONS_MAX
    );
    // A viewer is refused before the references are looked at.
    let as_viewer = create_resource(
        viewer(&w),
        unlimited(),
        &known,
        new_of(ResourceKind::Agent, &[theirs.id]),
        rid(5),
        at(1),
    );
    assert_eq!(codes(as_viewer), "forbidden");

    // Updates check what they set, and keep the connections they do not.
    let agent = agent_of(&w.acme, 5, &[ours.id]);
    let patch = |ids: Option<Vec<ResourceId>>| ResourcePatch::Agent {
        name: None,
        description: Some(Description::parse("Now with a purpose").unwrap()),
        connection_ids: ids,
    };
    let kept = update_resource(owner(&w), Some(&agent), &known, patch(None), at(2)).unwrap();
    assert_eq!(kept.outcome().connection_ids(), [ours.id]);
    assert_eq!(kept.outcome().updated_at, at(2));
    assert_eq!(kept.outcome().name, agent.name);
    let set = update_resource(
        owner(&w),
        Some(&agent),
        &known,
        patch(Some(vec![ours_too.id, ours_too.id])),
        at(2),
    )
    .unwrap();
    assert_eq!(set.outcome().connection_ids(), [ours_too.id]);
    assert_eq!(
        set.changes(),
        [Change::UpdateResource(set.outcome().clone())]
    );
    let refused = update_resource(
        owner(&w),
        Some(&agent),
        &known,
        patch(Some(vec![theirs.id])),
        at(2),
    );
    assert!(matches!(refused, Err(Error::NotFound(Missing::Connection))));
}

#[test]
fn creating_a_connection_writes_its_row_then_its_credentials() {
    let w = world();
    let decision = create_resource(
        owner(&w),
        unlimited(),
        &[],
        new_of(ResourceKind::Connection, &[]),
        rid(5),
        at(1),
    )
    .unwrap();
    let connection = decision.outcome().clone();
    assert_eq!(
        connection.details,
        Details::Connection(Connection {
            connection_type: ConnectionType::parse("postgres").unwrap(),
            credentials_updated_at: Some(at(1)),
        })
    );
    assert_eq!(
        decision.changes(),
        [
            Change::InsertResource(connection.clone()),
            Change::SetCredentials {
                organization_id: w.acme.id,
                connection_id: connection.id,
                credentials: credentials("s3cr3t"),
                at: at(1),
            },
        ]
    );
    // The outcome, which the API returns, holds no secret.
    assert!(!format!("{connection:?}").contains("s3cr3t"));
    // Other kinds write their row only.
    for kind in [ResourceKind::Agent, ResourceKind::Report] {
        let decision = create_resource(
            owner(&w),
            unlimited(),
            &[],
            new_of(kind, &[]),
            rid(5),
            at(1),
        )
        .unwrap();
        assert_eq!(
            decision.changes(),
            [Change::InsertResource(decision.outcome().clone())]
        );
    }
}

#[test]
fn deleting_a_connection_erases_its_credentials_and_leaves_its_agents() {
    let w = world();
    let globex = org(11, &w.bob);
    let connection = of_kind(&w.acme, 5, ResourceKind::Connection);
    let other = of_kind(&w.acme, 6, ResourceKind::Connection);
    let both = agent_of(&w.acme, 7, &[connection.id, other.id]);
    let unrelated = agent_of(&w.acme, 8, &[other.id]);
    // Not Acme's: a correct snapshot never holds it, and it is left alone.
    let foreign = agent_of(&globex, 9, &[connection.id]);
    let decision = delete_resource(
        owner(&w),
        ResourceKind::Connection,
        Some(&connection),
        &[both.clone(), unrelated, foreign],
        at(3),
    )
    .unwrap();
    let left = Resource {
        details: Details::Agent(Agent {
            description: Description::empty(),
            connection_ids: vec![other.id],
        }),
        updated_at: at(3),
        ..both
    };
    assert_eq!(
        decision.changes(),
        [
            Change::DeletePinsOf {
                organization_id: w.acme.id,
                item_id: connection.id,
            },
            Change::DeleteResource {
                organization_id: w.acme.id,
                id: connection.id,
                at: at(3),
            },
            Change::DeleteCredentials {
                organization_id: w.acme.id,
                connection_id: connection.id,
            },
            Change::UpdateResource(left),
        ]
    );
    assert_eq!(decision.outcome(), &connection);
    // Deleting an agent touches no credentials.
    let agent = agent_of(&w.acme, 7, &[connection.id]);
    let decision =
        delete_resource(owner(&w), ResourceKind::Agent, Some(&agent), &[], at(3)).unwrap();
    assert_eq!(
        decision.changes(),
        [
            Change::DeletePinsOf {
                organization_id: w.acme.id,
                item_id: agent.id,
            },
            Change::DeleteResource {
                organization_id: w.acme.id,
                id: agent.id,
                at: at(3),
            },
        ]
    );
}

#[test]
fn credentials_rotate_and_schedules_change_only_when_different() {
    let w = world();
    let connection = of_kind(&w.acme, 5, ResourceKind::Connection);
    let rotated = set_credentials(owner(&w), Some(&connection), credentials("new"), at(4)).unwrap();
    let stamped = rotated.outcome().clone();
    assert!(matches!(
        &stamped.details,
        Details::Connection(c) if c.credentials_updated_at == Some(at(4))
    ));
    assert_eq!(stamped.updated_at, at(4));
    assert_eq!(
        rotated.changes(),
        [
            Change::UpdateResource(stamped),
            Change::SetCredentials {
                organization_id: w.acme.id,
                connection_id: connection.id,
                credentials: credentials("new"),
                at: at(4),
            },
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::ConnectionCredentialsRotated,
                Actor::User(w.ann.id),
                Target::new(TargetKind::Connection, connection.id, "Resource 5"),
            )),
        ]
    );

    let report = of_kind(&w.acme, 6, ResourceKind::Report);
    let schedule = Schedule::parse("0 9 * * 1-5", Some("Europe/Paris")).unwrap();
    let set = set_schedule(owner(&w), Some(&report), Some(schedule.clone()), at(4)).unwrap();
    let scheduled = set.outcome().clone();
    assert!(matches!(
        &scheduled.details,
        Details::Report(r) if r.schedule.as_ref() == Some(&schedule)
    ));
    assert_eq!(set.changes(), [Change::UpdateResource(scheduled.clone())]);
    let again = set_schedule(owner(&w), Some(&scheduled), Some(schedule), at(5)).unwrap();
    assert!(again.changes().is_empty());
    assert_eq!(again.outcome().updated_at, at(4));
    let removed = set_schedule(owner(&w), Some(&scheduled), None, at(5)).unwrap();
    assert!(matches!(
        &removed.outcome().details,
        Details::Report(r) if r.schedule.is_none()
    ));
    assert_eq!(removed.changes().len(), 1);
    // Removing a schedule that is not there changes nothing.
    let none = set_schedule(owner(&w), Some(&report), None, at(5)).unwrap();
    assert!(none.changes().is_empty());
}

#[test]
fn triggering_a_run_queues_it_for_the_report() {
    let w = world();
    let report = of_kind(&w.acme, 5, ResourceKind::Report);
    let id = ReportRunId::from_uuid(Uuid::from_u128(6));
    let decision = trigger_run(owner(&w), Some(&report), id, at(2)).unwrap();
    let run = ReportRun {
        id,
        organization_id: w.acme.id,
        report_id: report.id,
        status: RunStatus::Queued,
        triggered_by: w.ann.id,
        created_at: at(2),
    };
    assert_eq!(decision.outcome(), &run);
    assert_eq!(decision.changes(), [Change::InsertReportRun(run)]);
}

#[test]
fn pinning_twice_answers_the_existing_pin() {
    let w = world();
    let agent = agent_of(&w.acme, 5, &[]);
    let first = pin(
        viewer(&w),
        ResourceKind::Agent,
        Some(&agent),
        &[],
        PinId::from_uuid(Uuid::from_u128(6)),
        at(1),
    )
    .unwrap();
    let existing = first.outcome().clone();
    assert_eq!(first.changes(), [Change::InsertPin(existing.clone())]);
    let again = pin(
        viewer(&w),
        ResourceKind::Agent,
        Some(&agent),
        std::slice::from_ref(&existing),
        PinId::from_uuid(Uuid::from_u128(7)),
        at(2),
    )
    .unwrap();
    assert!(again.changes().is_empty());
    assert_eq!(again.outcome(), &existing);
    // Someone else's pin of the same item is theirs: the owner gets their own.
    let owners = pin(
        owner(&w),
        ResourceKind::Agent,
        Some(&agent),
        std::slice::from_ref(&existing),
        PinId::from_uuid(Uuid::from_u128(7)),
        at(2),
    )
    .unwrap();
    assert_eq!(owners.outcome().user_id, w.ann.id);
    assert_eq!(owners.changes().len(), 1);
    // Knowledge files stay off the sidebar.
    let file = of_kind(&w.acme, 8, ResourceKind::KnowledgeFile);
    let refused = pin(
        owner(&w),
        ResourceKind::KnowledgeFile,
        Some(&file),
        &[],
        PinId::from_uuid(Uuid::from_u128(9)),
        at(2),
    );
    assert!(matches!(
        refused,
        Err(Error::Invalid {
            field: "item_type",
            ..
        })
    ));
}

#[test]
fn unpinning_someone_elses_pin_is_missing() {
    let w = world();
    let annes = Pin {
        id: PinId::from_uuid(Uuid::from_u128(6)),
        organization_id: w.acme.id,
        user_id: w.ann.id,
        item_kind: ResourceKind::Agent,
        item_id: rid(5),
        created_at: at(1),
    };
    assert!(is_missing(unpin(viewer(&w), Some(&annes)), Missing::Pin));
    assert!(is_missing(unpin(owner(&w), None), Missing::Pin));
    let elsewhere = Pin {
        organization_id: org(11, &w.bob).id,
        ..annes.clone()
    };
    assert!(is_missing(unpin(owner(&w), Some(&elsewhere)), Missing::Pin));
    let decision = unpin(owner(&w), Some(&annes)).unwrap();
    assert_eq!(
        decision.changes(),
        [Change::DeletePin {
            organization_id: w.acme.id,
            user_id: w.ann.id,
            id: annes.id,
        }]
    );
}

#[test]
fn chat_messages_only_in_ones_own_chat_of_ones_organization() {
    let w = world();
    let agent = agent_of(&w.acme, 5, &[]);
    let chat_id = ChatId::from_uuid(Uuid::from_u128(6));
    let chat = open_chat(viewer(&w), ChatTarget::Agent(Some(&agent)), chat_id, at(1))
        .unwrap()
        .into_parts()
        .1;
    let report = of_kind(&w.acme, 5, ResourceKind::Report);
    assert!(is_missing(
        open_chat(viewer(&w), ChatTarget::Agent(Some(&report)), chat_id, at(1)),
        Missing::Resource
    ));
    let limits = Limits {
        chat_messages_per_month: Some(1),
        ..Limits::default()
    };
    let send = |access: Access<'_>, chat: Option<&Chat>, used: u64| {
        send_chat_message(
            access,
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
                content: Text::parse("hi").unwrap(),
                now: at(2),
            },
        )
    };
    let sent = send(viewer(&w), Some(&chat), 0).unwrap();
    assert_eq!(
        (sent.outcome().sent_by, sent.outcome().content.as_str()),
        (w.bob.id, "hi")
    );
    assert_eq!(codes(send(viewer(&w), Some(&chat), 1)), "quota_exceeded");
    // Others' chats are missing, even to the owner of the organization.
    assert!(is_missing(send(owner(&w), Some(&chat), 0), Missing::Chat));
    assert!(is_missing(own_chat(owner(&w), Some(&chat)), Missing::Chat));
    assert!(is_missing(send(viewer(&w), None, 0), Missing::Chat));
    let moved = Chat {
        organization_id: org(11, &w.bob).id,
        ..chat.clone()
    };
    assert!(is_missing(send(viewer(&w), Some(&moved), 0), Missing::Chat));
    // A removed member's chat stops at the next message (R19).
    let removed = Access {
        membership: None,
        ..viewer(&w)
    };
    assert!(is_missing(
        send(removed, Some(&chat), 0),
        Missing::Organization
    ));
}

#[test]
fn a_host_uses_a_connection_only_while_the_grant_still_holds() {
    let w = world();
    let connection = of_kind(&w.acme, 5, ResourceKind::Connection);
    let grant = authorize(
        w.bob.id,
        w.acme.id,
        Some(&w.bob_viewer),
        Capability::ChatWithAgents,
    )
    .unwrap();
    assert_eq!(
        use_connection(&grant, viewer(&w), Some(&connection)).unwrap(),
        &connection
    );
    // A grant for work that uses no connection opens nothing.
    let viewing = authorize(
        w.bob.id,
        w.acme.id,
        Some(&w.bob_viewer),
        Capability::ViewResources,
    )
    .unwrap();
    assert!(matches!(
        use_connection(&viewing, viewer(&w), Some(&connection)),
        Err(Error::Forbidden { .. })
    ));
    // Bob was removed since the grant was made: it opens nothing (D12).
    let gone = Access {
        membership: None,
        ..viewer(&w)
    };
    assert!(is_missing(
        use_connection(&grant, gone, Some(&connection)),
        Missing::Organization
    ));
    // The access read now must be the grant holder's, in the grant's organization.
    assert!(is_missing(
        use_connection(&grant, owner(&w), Some(&connection)),
        Missing::Organization
    ));
    let globex = org(11, &w.bob);
    let bob_owner = member(&globex, &w.bob, Role::OWNER);
    let elsewhere = Access {
        actor: w.bob.id,
        organization: Some(&globex),
        membership: Some(&bob_owner),
    };
    assert!(is_missing(
        use_connection(&grant, elsewhere, Some(&connection)),
        Missing::Organization
    ));
    // Only a connection of the grant's organization opens.
    let theirs = of_kind(&globex, 6, ResourceKind::Connection);
    let agent = agent_of(&w.acme, 7, &[]);
    for found in [Some(&theirs), Some(&agent), None] {
        assert!(is_missing(
            use_connection(&grant, viewer(&w), found),
            Missing::Resource
        ));
    }
}

fn unverified(n: u128, email: &str) -> User {
    User {
        email_verified: false,
        ..user(n, email)
    }
}

fn open_link(owner: &User, purpose: AccountTokenPurpose, n: u8) -> AccountToken {
    AccountToken {
        id: link(n).token_id,
        user_id: owner.id,
        purpose,
        token_hash: link(n).token.hash(),
        created_at: at(0),
        expires_at: at(1),
        state: AccountTokenState::Open,
    }
}

fn signed_up_verified(decision: &Decision<SignedUp>) -> Option<bool> {
    decision.changes().iter().find_map(|c| match c {
        Change::InsertUser { user, .. } => Some(user.email_verified),
        _ => None,
    })
}

fn verification_mails(changes: &[Change]) -> usize {
    changes
        .iter()
        .filter(|c| {
            matches!(
                c,
                Change::EnqueueMail(OutgoingMail {
                    content: MailContent::VerifyEmail { .. },
                    ..
                })
            )
        })
        .count()
}

#[test]
fn sign_up_without_a_link_is_unverified_and_queues_one_verification_email() {
    let w = world();
    let input = |mail| SignUp {
        user_id: UserId::from_uuid(Uuid::from_u128(3)),
        organization_id: OrganizationId::from_uuid(Uuid::from_u128(30)),
        email: EmailAddress::parse("cy@example.com").unwrap(),
        display_name: None,
        password_hash: PasswordHash::new("phc".into()),
        default_plan: PlanId::free(),
        session_id: session(3),
        session_token: SecretToken::from_bytes([8; 32]),
        verification: link(12),
        verification_mail: mail,
        verification_ttl: Duration::hours(24),
        now: at(1),
    };
    let plain = sign_up(input(AccountMail::Send), None, PresentedInvitation::None).unwrap();
    assert_eq!(signed_up_verified(&plain), Some(false));
    assert!(!plain.outcome().user.email_verified);
    assert_eq!(verification_mails(plain.changes()), 1);
    assert!(plain.changes().iter().any(|c| matches!(
        c,
        Change::InsertAccountToken(t) if t.purpose == AccountTokenPurpose::VerifyEmail
            && t.expires_at == at(25) && t.token_hash == link(12).token.hash()
    )));
    // The rate limit withholds the email, and with it the link.
    let withheld = sign_up(
        input(AccountMail::Withhold),
        None,
        PresentedInvitation::None,
    )
    .unwrap();
    assert_eq!(signed_up_verified(&withheld), Some(false));
    assert!(
        !withheld
            .changes()
            .iter()
            .any(|c| matches!(c, Change::InsertAccountToken(_) | Change::EnqueueMail(_)))
    );
    // An accepted invitation proves the address: verified, no email.
    let pending = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    let invited = sign_up(
        input(AccountMail::Send),
        None,
        PresentedInvitation::Found(&pending),
    )
    .unwrap();
    assert_eq!(signed_up_verified(&invited), Some(true));
    assert!(invited.outcome().user.email_verified);
    assert_eq!(verification_mails(invited.changes()), 0);
    // A link that does not admit (revoked) proves nothing.
    let revoked = invitation(
        &w.acme,
        "cy@example.com",
        InvitationState::Revoked { at: at(0) },
    );
    let refused = sign_up(
        input(AccountMail::Send),
        None,
        PresentedInvitation::Found(&revoked),
    )
    .unwrap();
    assert_eq!(signed_up_verified(&refused), Some(false));
    assert_eq!(verification_mails(refused.changes()), 1);
}

#[test]
fn an_unverified_inviter_is_refused_after_the_capability_check() {
    let w = world();
    let ann = unverified(1, "ann@example.com");
    let snapshot = |inviter, membership| InviteSnapshot {
        organization: Some(&w.acme),
        inviter,
        inviter_membership: membership,
        invitee_membership: None,
        open_invitation: None,
        role: None,
    };
    let input = invite_input("eve@example.com", None);
    assert_eq!(
        codes(invite(snapshot(&ann, Some(&w.ann_owner)), input.clone())),
        "email_unverified"
    );
    // Access and capability are told first.
    let bob = unverified(2, "bob@example.com");
    assert_eq!(
        codes(invite(snapshot(&bob, Some(&w.bob_viewer)), input.clone())),
        "forbidden"
    );
    assert_eq!(
        codes(invite(snapshot(&bob, None), input.clone())),
        "not_found"
    );
    let off = Invite {
        inviter_must_be_verified: false,
        ..input
    };
    assert_eq!(codes(invite(snapshot(&ann, Some(&w.ann_owner)), off)), "ok");
}

#[test]
fn accepting_an_invitation_verifies_the_address() {
    let w = world();
    let cy = unverified(3, "cy@example.com");
    let pending = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    let accepted = accept(&cy, None, Some(&pending), at(1)).unwrap();
    assert!(accepted.changes().iter().any(|c| matches!(
        c,
        Change::MarkEmailVerified { user_id, .. } if *user_id == cy.id
    )));
    let verified = user(3, "cy@example.com");
    let again = accept(&verified, None, Some(&pending), at(1)).unwrap();
    assert!(
        !again
            .changes()
            .iter()
            .any(|c| matches!(c, Change::MarkEmailVerified { .. }))
    );
}

#[test]
fn a_link_is_judged_used_before_expired_and_only_for_its_purpose() {
    let ann = unverified(1, "ann@example.com");
    let open = open_link(&ann, AccountTokenPurpose::VerifyEmail, 20);
    let judge = |token: &AccountToken, purpose, now| {
        judge_link(Some(token), purpose, now)
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert_eq!(
        judge(&open, AccountTokenPurpose::VerifyEmail, at(0)),
        Ok(())
    );
    assert_eq!(
        judge(&open, AccountTokenPurpose::VerifyEmail, at(1)),
        Err("token_expired")
    );
    assert_eq!(
        judge(&open, AccountTokenPurpose::ResetPassword, at(0)),
        Err("not_found")
    );
    for state in [
        AccountTokenState::Used { at: at(0) },
        AccountTokenState::Superseded { at: at(0) },
    ] {
        let dead = AccountToken {
            state,
            ..open.clone()
        };
        assert_eq!(
            judge(&dead, AccountTokenPurpose::VerifyEmail, at(5)),
            Err("token_used")
        );
    }
    assert_eq!(
        judge_link(None, AccountTokenPurpose::VerifyEmail, at(0))
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("not_found")
    );
}

#[test]
fn verification_uses_the_link_and_marks_the_address() {
    let ann = unverified(1, "ann@example.com");
    let open = open_link(&ann, AccountTokenPurpose::VerifyEmail, 21);
    let decision = verify_email(Some(&open), Some(&ann), at(0)).unwrap();
    assert!(decision.outcome().email_verified);
    assert_eq!(
        decision.changes(),
        &[
            Change::UseAccountToken {
                id: open.id,
                at: at(0)
            },
            Change::MarkEmailVerified {
                user_id: ann.id,
                at: at(0)
            },
        ]
    );
    // A link of someone else's account is not found (a store bug, caught).
    let bob = unverified(2, "bob@example.com");
    assert_eq!(
        codes(verify_email(Some(&open), Some(&bob), at(0))),
        "not_found"
    );
    // A fresh one supersedes the older ones, and is refused once verified.
    let fresh = request_verification(&ann, link(22), Duration::hours(24), at(0)).unwrap();
    assert!(matches!(
        fresh.changes(),
        [
            Change::SupersedeAccountTokens {
                purpose: AccountTokenPurpose::VerifyEmail,
                ..
            },
            Change::InsertAccountToken(_),
            Change::EnqueueMail(_)
        ]
    ));
    assert_eq!(
        codes(request_verification(
            &user(1, "ann@example.com"),
            link(23),
            Duration::hours(24),
            at(0)
        )),
        "already_verified"
    );
}

#[test]
fn a_reset_sets_the_password_ends_every_session_and_proves_the_address() {
    let ann = unverified(1, "ann@example.com");
    // Asked for: a link only for an account, and only when the email may go.
    let asked = request_password_reset(Some(&ann), AccountMail::Send, link(30), at(0));
    assert!(asked.changes().iter().any(|c| matches!(
        c,
        Change::EnqueueMail(OutgoingMail { content: MailContent::ResetPassword { expires_at, .. }, .. })
            if *expires_at == at(1)
    )));
    assert!(
        request_password_reset(None, AccountMail::Send, link(31), at(0))
            .changes()
            .is_empty()
    );
    assert!(
        request_password_reset(Some(&ann), AccountMail::Withhold, link(32), at(0))
            .changes()
            .is_empty()
    );

    let open = open_link(&ann, AccountTokenPurpose::ResetPassword, 33);
    let hash = PasswordHash::new("new".into());
    let confirmed = confirm_password_reset(Some(&open), Some(&ann), hash.clone(), at(0)).unwrap();
    let changes = confirmed.changes();
    assert!(changes.contains(&Change::SetPassword {
        user_id: ann.id,
        password_hash: hash.clone()
    }));
    assert!(changes.contains(&Change::EndSessionsOf {
        user_id: ann.id,
        except: None
    }));
    assert!(changes.contains(&Change::MarkEmailVerified {
        user_id: ann.id,
        at: at(0)
    }));
    assert!(changes.contains(&Change::SupersedeAccountTokens {
        user_id: ann.id,
        purpose: AccountTokenPurpose::VerifyEmail,
        at: at(0)
    }));
    // A verification link is no reset link, and a dead one sets nothing.
    let verification = open_link(&ann, AccountTokenPurpose::VerifyEmail, 34);
    assert_eq!(
        codes(confirm_password_reset(
            Some(&verification),
            Some(&ann),
            hash.clone(),
            at(0)
        )),
        "not_found"
    );
    assert_eq!(
        codes(confirm_password_reset(Some(&open), Some(&ann), hash, at(2))),
        "token_expired"
    );
}

#[test]
fn a_password_change_needs_the_current_password_and_keeps_the_current_session() {
    let ann = user(1, "ann@example.com");
    let hash = PasswordHash::new("new".into());
    assert_eq!(
        codes(change_password(&ann, session(1), None, hash.clone())),
        "forbidden"
    );
    let other = Some(PasswordMatched::of(user(2, "bo@example.com").id));
    assert_eq!(
        codes(change_password(&ann, session(1), other, hash.clone())),
        "forbidden"
    );
    let matched = Some(PasswordMatched::of(ann.id));
    let changed = change_password(&ann, session(1), matched, hash.clone()).unwrap();
    assert_eq!(
        changed.changes(),
        &[
            Change::SetPassword {
                user_id: ann.id,
                password_hash: hash
            },
            Change::EndSessionsOf {
                user_id: ann.id,
                except: Some(session(1))
            }
        ]
    );
}

#[test]
fn a_session_lives_within_both_lifetimes_and_is_touched_at_most_once_a_minute() {
    let ann = user(1, "ann@example.com");
    let lifetimes = SessionLifetimes {
        ttl: Duration::hours(10),
        idle_timeout: Duration::hours(2),
    };
    let opened = Session {
        id: session(1),
        token_hash: link(40).token.hash(),
        user_id: ann.id,
        created_at: at(0),
        last_used_at: at(0),
    };
    let seconds = |s| at(0) + Duration::seconds(s);
    // Within the minute: a read.
    let quiet = authenticate(Some(&opened), lifetimes, seconds(59)).unwrap();
    assert!(quiet.changes().is_empty());
    // From the minute on: the use is written.
    let touched = authenticate(Some(&opened), lifetimes, seconds(60)).unwrap();
    assert_eq!(
        touched.changes(),
        &[Change::TouchSession {
            session_id: opened.id,
            at: seconds(60)
        }]
    );
    assert_eq!(touched.outcome().last_used_at, seconds(60));
    // Idle for the timeout: ended.
    assert_eq!(
        codes(authenticate(Some(&opened), lifetimes, at(2))),
        "unauthenticated"
    );
    // Used recently but past the absolute lifetime: ended.
    let busy = Session {
        last_used_at: at(9),
        ..opened.clone()
    };
    assert_eq!(
        codes(authenticate(
            Some(&busy),
            lifetimes,
            seconds(9 * 3600 + 1800)
        )),
        "ok"
    );
    assert_eq!(
        codes(authenticate(Some(&busy), lifetimes, at(10))),
        "unauthenticated"
    );
    assert_eq!(
        codes(authenticate(None, lifetimes, at(0))),
        "unauthenticated"
    );
    assert_eq!(lifetimes.expires_at(&opened), at(10));
    // The sweep removes exactly what authentication refuses.
    assert_eq!(
        sweep_accounts(lifetimes, at(10)).changes()[0],
        Change::SweepSessions {
            opened_by: at(0),
            last_used_by: at(8)
        }
    );
}

#[test]
fn only_ones_own_session_can_be_ended() {
    let ann = user(1, "ann@example.com");
    let hers = Session {
        id: session(1),
        token_hash: link(41).token.hash(),
        user_id: ann.id,
        created_at: at(0),
        last_used_at: at(0),
    };
    let lifetimes = SessionLifetimes::default();
    assert_eq!(
        codes(end_session(ann.id, Some(&hers), lifetimes, at(1))),
        "ok"
    );
    let bob = UserId::from_uuid(Uuid::from_u128(2));
    assert_eq!(
        codes(end_session(bob, Some(&hers), lifetimes, at(1))),
        "not_found"
    );
    assert_eq!(
        codes(end_session(ann.id, None, lifetimes, at(1))),
        "not_found"
    );
    // Ended by its idle timeout already: not found, and signing out with it
    // is unauthenticated.
    let idle = at(0) + lifetimes.idle_timeout;
    assert_eq!(
        codes(end_session(ann.id, Some(&hers), lifetimes, idle)),
        "not_found"
    );
    assert_eq!(
        codes(sign_out(Some(&hers), lifetimes, idle)),
        "unauthenticated"
    );
    assert_eq!(codes(sign_out(Some(&hers), lifetimes, at(1))), "ok");
    assert_eq!(codes(sign_out(None, lifetimes, at(1))), "unauthenticated");
}

// The organization's life past day one (R27–R30, D8, D13, D17).

fn pending_deletion(org: &Organization, purge_after: i64) -> Organization {
    Organization {
        deletion: Some(ScheduledDeletion {
            requested_at: at(0),
            purge_after: at(purge_after),
        }),
        ..org.clone()
    }
}

/// Ann's second organization, which she owns: what D13 asks her to keep.
fn anns_other(w: &World) -> (Membership, Organization) {
    let other = Organization {
        name: OrganizationName::parse("Ann's organization").unwrap(),
        ..org(11, &w.ann)
    };
    (member(&other, &w.ann, Role::OWNER), other)
}

/// Ann's memberships, each with its organization: Acme, and her other one
/// when `other` is given.
fn anns(w: &World, other: Option<(Membership, Organization)>) -> Vec<(Membership, Organization)> {
    std::iter::once((w.ann_owner.clone(), w.acme.clone()))
        .chain(other)
        .collect()
}

fn transfer_of(org: &Organization, from: &User, to: &User, expires_at: i64) -> OwnershipTransfer {
    OwnershipTransfer {
        id: TransferId::from_uuid(Uuid::from_u128(300)),
        organization_id: org.id,
        from_user_id: from.id,
        to_user_id: to.id,
        created_at: at(0),
        expires_at: at(expires_at),
    }
}

fn resend_input(now: DateTime<Utc>) -> Resend {
    Resend {
        mail_id: MailId::from_uuid(Uuid::from_u128(97)),
        token: SecretToken::from_bytes([5; 32]),
        ttl: Duration::days(7),
        sender_must_be_verified: true,
        now,
    }
}

fn resend_snapshot<'a>(w: &'a World, invitation: &'a Invitation) -> ResendSnapshot<'a> {
    ResendSnapshot {
        organization: Some(&w.acme),
        sender: &w.ann,
        sender_membership: Some(&w.ann_owner),
        invitation: Some(invitation),
        invitee_membership: None,
        open_invitation: invitation.is_open().then_some(invitation),
    }
}

#[test]
fn resending_a_pending_or_expired_invitation_gives_it_a_new_token_and_a_fresh_expiry() {
    let w = world();
    let pending = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    let closed = invitation(&w.acme, "cy@example.com", InvitationState::Expired);
    // Pending; pending but past its expiry; closed as expired by a re-invite.
    for (found, now) in [
        (&pending, at(1)),
        (&pending, at(24 * 8)),
        (&closed, at(24 * 8)),
    ] {
        let decision = resend(resend_snapshot(&w, found), resend_input(now)).unwrap();
        let resent = decision.outcome();
        let token = SecretToken::from_bytes([5; 32]);
        assert_eq!(
            *resent,
            Invitation {
                token_hash: token.hash(),
                expires_at: now + Duration::days(7),
                state: InvitationState::Pending,
                ..found.clone()
            },
            "{:?} at {now}",
            found.state
        );
        assert_ne!(resent.token_hash, found.token_hash);
        assert_eq!(resent.status_at(now), InvitationStatus::Pending);
        // Same id, role, inviter and creation; the new email has the new token.
        assert_eq!(
            decision.changes(),
            [
                Change::ResendInvitation {
                    organization_id: w.acme.id,
                    invitation_id: found.id,
                    token_hash: token.hash(),
                    expires_at: now + Duration::days(7),
                },
                Change::Audit(AuditEntry::new(
                    w.acme.id,
                    Action::InvitationResent,
                    Actor::User(w.ann.id),
                    Target::new(TargetKind::Invitation, found.id, "cy@example.com"),
                )),
                Change::EnqueueMail(OutgoingMail {
                    id: MailId::from_uuid(Uuid::from_u128(97)),
                    to: found.email.clone(),
                    created_at: now,
                    content: MailContent::Invitation {
                        invitation_id: found.id,
                        organization_name: w.acme.name.clone(),
                        inviter_email: w.ann.email.clone(),
                        role_name: found.role.name().clone(),
                        token: token.clone(),
                        expires_at: now + Duration::days(7),
                    },
                }),
            ]
        );
    }
}

#[test]
fn reviving_an_expired_invitation_closes_the_other_open_one_of_the_email() {
    let w = world();
    let closed = invitation(&w.acme, "cy@example.com", InvitationState::Expired);
    let newer = Invitation {
        id: InvitationId::from_uuid(Uuid::from_u128(78)),
        token_hash: SecretToken::from_bytes([3; 32]).hash(),
        created_at: at(24 * 8),
        expires_at: at(24 * 15),
        ..invitation(&w.acme, "cy@example.com", InvitationState::Pending)
    };
    let snapshot = ResendSnapshot {
        open_invitation: Some(&newer),
        ..resend_snapshot(&w, &closed)
    };
    // The newer one is pending: revoked, as a re-invite would (D5).
    let decision = resend(snapshot, resend_input(at(24 * 9))).unwrap();
    assert_eq!(
        decision.changes()[0],
        Change::SetInvitationState {
            organization_id: w.acme.id,
            invitation_id: newer.id,
            state: InvitationState::Revoked { at: at(24 * 9) },
        }
    );
    assert!(matches!(
        decision.changes()[1],
        Change::ResendInvitation { invitation_id, .. } if invitation_id == closed.id
    ));
    assert_eq!(
        decision.changes()[2],
        Change::Audit(AuditEntry::new(
            w.acme.id,
            Action::InvitationResent,
            Actor::User(w.ann.id),
            Target::new(TargetKind::Invitation, closed.id, "cy@example.com"),
        ))
    );
    // The newer one has expired too: closed as expired, its link says so.
    let decision = resend(snapshot, resend_input(at(24 * 16))).unwrap();
    assert_eq!(
        decision.changes()[0],
        Change::SetInvitationState {
            organization_id: w.acme.id,
            invitation_id: newer.id,
            state: InvitationState::Expired,
        }
    );
    // Resending the open one itself closes nothing; an open invitation of
    // another organization is none of this one's business.
    let pending = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    let decision = resend(resend_snapshot(&w, &pending), resend_input(at(1))).unwrap();
    assert_eq!(decision.changes().len(), 3);
    assert!(
        !decision
            .changes()
            .iter()
            .any(|change| matches!(change, Change::SetInvitationState { .. }))
    );
    let theirs = Invitation {
        id: InvitationId::from_uuid(Uuid::from_u128(79)),
        ..invitation(&org(12, &w.bob), "cy@example.com", InvitationState::Pending)
    };
    let snapshot = ResendSnapshot {
        open_invitation: Some(&theirs),
        ..resend_snapshot(&w, &closed)
    };
    let decision = resend(snapshot, resend_input(at(24 * 9))).unwrap();
    assert_eq!(decision.changes().len(), 3);
    assert!(
        !decision
            .changes()
            .iter()
            .any(|change| matches!(change, Change::SetInvitationState { .. }))
    );
}

#[test]
fn resending_refuses_used_revoked_members_and_roles_the_sender_could_not_give() {
    let w = world();
    let now = at(1);
    let accepted = invitation(
        &w.acme,
        "bob@example.com",
        InvitationState::Accepted {
            by: w.bob.id,
            at: at(0),
        },
    );
    let revoked = invitation(
        &w.acme,
        "cy@example.com",
        InvitationState::Revoked { at: at(0) },
    );
    let pending = invitation(&w.acme, "bob@example.com", InvitationState::Pending);
    let refuse = |snapshot: ResendSnapshot<'_>| codes(resend(snapshot, resend_input(now)));
    assert_eq!(
        refuse(resend_snapshot(&w, &accepted)),
        "invitation_already_accepted"
    );
    assert_eq!(refuse(resend_snapshot(&w, &revoked)), "invitation_revoked");
    let invitee_is_member = ResendSnapshot {
        invitee_membership: Some(&w.bob_viewer),
        ..resend_snapshot(&w, &pending)
    };
    assert_eq!(refuse(invitee_is_member), "already_member");
    // The state is told before the membership: a used invitation whose
    // invitee is a member is accepted, not a conflict of membership.
    let used_by_member = ResendSnapshot {
        invitee_membership: Some(&w.bob_viewer),
        ..resend_snapshot(&w, &accepted)
    };
    assert_eq!(refuse(used_by_member), "invitation_already_accepted");
    // A membership of another organization is no membership here.
    let elsewhere = member(&org(12, &w.bob), &w.bob, Role::VIEWER);
    let member_elsewhere = ResendSnapshot {
        invitee_membership: Some(&elsewhere),
        ..resend_snapshot(&w, &pending)
    };
    assert_eq!(refuse(member_elsewhere), "ok");
    // No escalation (D14): a member who manages members resends only
    // invitations whose role they could give.
    let narrow = Role::custom(
        RoleKey::custom("gatekeeper").unwrap(),
        RoleName::parse("Gatekeeper").unwrap(),
        RoleDescription::default(),
        CapabilitySet::of(&[Capability::ViewResources, Capability::ManageMembers]),
    )
    .unwrap();
    let cy = user(3, "cy@example.com");
    let gatekeeper = member(&w.acme, &cy, narrow.clone());
    let as_admin = Invitation {
        role: Role::ADMIN,
        ..pending.clone()
    };
    let by_gatekeeper = ResendSnapshot {
        sender: &cy,
        sender_membership: Some(&gatekeeper),
        ..resend_snapshot(&w, &as_admin)
    };
    assert_eq!(refuse(by_gatekeeper), "role_not_assignable");
    let as_gatekeeper = Invitation {
        role: narrow,
        ..pending.clone()
    };
    let by_gatekeeper = ResendSnapshot {
        sender: &cy,
        sender_membership: Some(&gatekeeper),
        ..resend_snapshot(&w, &as_gatekeeper)
    };
    assert_eq!(refuse(by_gatekeeper), "ok");
    // A dead invitation whose custom role was deleted since names a retired
    // role: reviving it would admit someone with a role that is gone.
    let retired = Invitation {
        role: Role::retired(RoleKey::custom("analyst").unwrap()),
        ..invitation(&w.acme, "cy@example.com", InvitationState::Expired)
    };
    assert_eq!(refuse(resend_snapshot(&w, &retired)), "role_not_assignable");
}

#[test]
fn resending_needs_the_capability_a_verified_address_and_the_organization_s_invitation() {
    let w = world();
    let pending = invitation(&w.acme, "cy@example.com", InvitationState::Pending);
    let now = at(1);
    let as_viewer = ResendSnapshot {
        sender: &w.bob,
        sender_membership: Some(&w.bob_viewer),
        ..resend_snapshot(&w, &pending)
    };
    assert_eq!(codes(resend(as_viewer, resend_input(now))), "forbidden");
    let outsider = ResendSnapshot {
        sender: &w.bob,
        sender_membership: None,
        ..resend_snapshot(&w, &pending)
    };
    assert_eq!(codes(resend(outsider, resend_input(now))), "not_found");
    let ann = unverified(1, "ann@example.com");
    let unverified_sender = ResendSnapshot {
        sender: &ann,
        ..resend_snapshot(&w, &pending)
    };
    assert_eq!(
        codes(resend(unverified_sender, resend_input(now))),
        "email_unverified"
    );
    let allowed = Resend {
        sender_must_be_verified: false,
        ..resend_input(now)
    };
    assert_eq!(codes(resend(unverified_sender, allowed)), "ok");
    // The verified address is asked for after the capability.
    let bob = unverified(2, "bob@example.com");
    let unverified_viewer = ResendSnapshot {
        sender: &bob,
        ..as_viewer
    };
    assert_eq!(
        codes(resend(unverified_viewer, resend_input(now))),
        "forbidden"
    );
    // Another organization's invitation, or none: not found.
    let theirs = invitation(&org(12, &w.bob), "cy@example.com", InvitationState::Pending);
    assert_eq!(
        codes(resend(resend_snapshot(&w, &theirs), resend_input(now))),
        "not_found"
    );
    let none = ResendSnapshot {
        invitation: None,
        ..resend_snapshot(&w, &pending)
    };
    assert!(matches!(
        resend(none, resend_input(now)),
        Err(Error::NotFound(Missing::Invitation))
    ));
    // Nothing is resent in an organization pending deletion (R29).
    let deleting = pending_deletion(&w.acme, 24 * 30);
    let pending_org = ResendSnapshot {
        organization: Some(&deleting),
        ..resend_snapshot(&w, &pending)
    };
    assert_eq!(
        codes(resend(pending_org, resend_input(now))),
        "organization_pending_deletion"
    );
}

#[test]
fn invitations_are_listed_by_their_status_at_the_time_asked() {
    let w = world();
    let with = |n: u128, state| Invitation {
        id: InvitationId::from_uuid(Uuid::from_u128(n)),
        ..invitation(&w.acme, "cy@example.com", state)
    };
    let late = Invitation {
        expires_at: at(48),
        ..with(1, InvitationState::Pending)
    };
    let all = vec![
        with(5, InvitationState::Pending),
        late,
        with(3, InvitationState::Expired),
        with(2, InvitationState::Revoked { at: at(0) }),
        with(
            4,
            InvitationState::Accepted {
                by: w.bob.id,
                at: at(0),
            },
        ),
    ];
    let ids = |status, now| -> Vec<u128> {
        invitations_with_status(all.clone(), status, now)
            .into_iter()
            .map(|i| i.id.as_uuid().as_u128())
            .collect()
    };
    assert_eq!(ids(Some(InvitationStatus::Pending), at(1)), [5, 1]);
    assert_eq!(ids(Some(InvitationStatus::Expired), at(1)), [3]);
    // Past its expiry a pending invitation lists as expired.
    assert_eq!(ids(Some(InvitationStatus::Pending), at(48)), [5]);
    assert_eq!(ids(Some(InvitationStatus::Expired), at(48)), [1, 3]);
    assert_eq!(ids(Some(InvitationStatus::Revoked), at(1)), [2]);
    assert_eq!(ids(Some(InvitationStatus::Accepted), at(1)), [4]);
    // All of them, in the order given.
    assert_eq!(ids(None, at(1)), [5, 1, 3, 2, 4]);
}

fn request(snapshot: TransferSnapshot<'_>) -> &'static str {
    codes(request_transfer(snapshot, transfer_request(at(1))))
}

fn transfer_request(now: DateTime<Utc>) -> TransferRequest {
    TransferRequest {
        transfer_id: TransferId::from_uuid(Uuid::from_u128(301)),
        mail_id: MailId::from_uuid(Uuid::from_u128(302)),
        owner_must_be_verified: true,
        now,
    }
}

#[test]
fn the_owner_offers_the_ownership_to_a_member_and_a_new_offer_replaces_the_old() {
    let w = world();
    let memberships = anns(&w, Some(anns_other(&w)));
    let snapshot = TransferSnapshot {
        organization: Some(&w.acme),
        owner: &w.ann,
        owner_membership: Some(&w.ann_owner),
        owner_memberships: &memberships,
        target: Some((&w.bob_viewer, &w.bob)),
        pending: None,
    };
    let decision = request_transfer(snapshot, transfer_request(at(1))).unwrap();
    let offered = OwnershipTransfer {
        id: TransferId::from_uuid(Uuid::from_u128(301)),
        organization_id: w.acme.id,
        from_user_id: w.ann.id,
        to_user_id: w.bob.id,
        created_at: at(1),
        expires_at: at(1) + TRANSFER_TTL,
    };
    assert_eq!(TRANSFER_TTL, Duration::hours(72));
    assert_eq!(*decision.outcome(), offered);
    assert_eq!(
        decision.changes(),
        [
            Change::InsertTransfer(offered.clone()),
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::OwnershipTransferRequested,
                Actor::User(w.ann.id),
                Target {
                    kind: TargetKind::OwnershipTransfer,
                    id: offered.id.to_string(),
                    label: Label::EmailOf(w.bob.id),
                },
            )),
            Change::EnqueueMail(OutgoingMail {
                id: MailId::from_uuid(Uuid::from_u128(302)),
                to: w.bob.email.clone(),
                created_at: at(1),
                content: MailContent::OwnershipTransfer {
                    transfer_id: offered.id,
                    organization_id: w.acme.id,
                    organization_name: w.acme.name.clone(),
                    owner_email: w.ann.email.clone(),
                    expires_at: offered.expires_at,
                },
            }),
        ]
    );
    // The email names the organization and the owner, and carries no secret.
    let mail = decision
        .changes()
        .iter()
        .find_map(|c| match c {
            Change::EnqueueMail(mail) => Some(mail.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(mail.content.token(), None);
    let rendered = mail.render("https://app.example");
    assert!(rendered.subject.contains("Acme") && rendered.subject.contains("ann@example.com"));
    // A pending offer, live or expired, is replaced.
    let old = transfer_of(&w.acme, &w.ann, &w.bob, 1);
    let replacing = TransferSnapshot {
        pending: Some(&old),
        ..snapshot
    };
    let decision = request_transfer(replacing, transfer_request(at(5))).unwrap();
    assert_eq!(
        decision.changes()[0],
        Change::DeleteTransfer {
            organization_id: w.acme.id,
            id: old.id,
        }
    );
    assert!(matches!(decision.changes()[1], Change::InsertTransfer(_)));
    // Another organization's offer is left alone.
    let theirs = transfer_of(&org(12, &w.bob), &w.bob, &w.ann, 100);
    let elsewhere = TransferSnapshot {
        pending: Some(&theirs),
        ..snapshot
    };
    let decision = request_transfer(elsewhere, transfer_request(at(1))).unwrap();
    assert!(matches!(decision.changes()[0], Change::InsertTransfer(_)));
}

#[test]
fn a_transfer_goes_only_to_another_member_and_never_takes_the_owner_s_last_organization() {
    let w = world();
    let memberships = anns(&w, Some(anns_other(&w)));
    let snapshot = TransferSnapshot {
        organization: Some(&w.acme),
        owner: &w.ann,
        owner_membership: Some(&w.ann_owner),
        owner_memberships: &memberships,
        target: Some((&w.bob_viewer, &w.bob)),
        pending: None,
    };
    assert_eq!(request(snapshot), "ok");
    // Not a member, the owner herself, a member of another organization, a
    // membership that is not the user's: not a valid target.
    let elsewhere = member(&org(12, &w.bob), &w.bob, Role::VIEWER);
    let cy = user(3, "cy@example.com");
    for target in [
        None,
        Some((&w.ann_owner, &w.ann)),
        Some((&elsewhere, &w.bob)),
        Some((&w.bob_viewer, &cy)),
    ] {
        assert_eq!(
            request(TransferSnapshot { target, ..snapshot }),
            "transfer_target_invalid",
            "{target:?}"
        );
    }
    // D13: the owner keeps an organization of her own that is not pending
    // deletion. Acme is her only one; or her other one is pending deletion;
    // or she is only an admin of the other one.
    let (other_owner, other) = anns_other(&w);
    let other_pending = pending_deletion(&other, 24 * 30);
    let mut as_admin = other_owner.clone();
    as_admin.role = Role::ADMIN;
    let bobs = Organization {
        owner_id: w.bob.id,
        ..other.clone()
    };
    for memberships in [
        anns(&w, None),
        anns(&w, Some((other_owner.clone(), other_pending))),
        anns(&w, Some((as_admin, bobs))),
    ] {
        assert_eq!(
            request(TransferSnapshot {
                owner_memberships: &memberships,
                ..snapshot
            }),
            "last_owned_organization"
        );
    }
    // The target is judged before D13.
    let only_acme = anns(&w, None);
    assert_eq!(
        request(TransferSnapshot {
            owner_memberships: &only_acme,
            target: None,
            ..snapshot
        }),
        "transfer_target_invalid"
    );
}

#[test]
fn only_a_verified_owner_of_a_live_organization_offers_its_ownership() {
    let w = world();
    let memberships = anns(&w, Some(anns_other(&w)));
    let snapshot = TransferSnapshot {
        organization: Some(&w.acme),
        owner: &w.ann,
        owner_membership: Some(&w.ann_owner),
        owner_memberships: &memberships,
        target: Some((&w.bob_viewer, &w.bob)),
        pending: None,
    };
    // An admin holds everything but the owner's own: refused (D14).
    let cy = user(3, "cy@example.com");
    let cy_admin = member(&w.acme, &cy, Role::ADMIN);
    assert_eq!(
        request(TransferSnapshot {
            owner: &cy,
            owner_membership: Some(&cy_admin),
            ..snapshot
        }),
        "forbidden"
    );
    assert_eq!(
        request(TransferSnapshot {
            owner: &w.bob,
            owner_membership: Some(&w.bob_viewer),
            ..snapshot
        }),
        "forbidden"
    );
    assert_eq!(
        request(TransferSnapshot {
            owner_membership: None,
            ..snapshot
        }),
        "not_found"
    );
    assert_eq!(
        request(TransferSnapshot {
            organization: None,
            ..snapshot
        }),
        "not_found"
    );
    let ann = unverified(1, "ann@example.com");
    let unverified_owner = TransferSnapshot {
        owner: &ann,
        ..snapshot
    };
    assert_eq!(request(unverified_owner), "email_unverified");
    // The address is asked for before the target.
    assert_eq!(
        request(TransferSnapshot {
            target: None,
            ..unverified_owner
        }),
        "email_unverified"
    );
    let lenient = TransferRequest {
        owner_must_be_verified: false,
        ..transfer_request(at(1))
    };
    assert_eq!(codes(request_transfer(unverified_owner, lenient)), "ok");
    let deleting = pending_deletion(&w.acme, 24 * 30);
    assert_eq!(
        request(TransferSnapshot {
            organization: Some(&deleting),
            ..snapshot
        }),
        "organization_pending_deletion"
    );
    assert_eq!(
        request(TransferSnapshot {
            organization: Some(&deleting),
            owner: &w.bob,
            owner_membership: Some(&w.bob_viewer),
            ..snapshot
        }),
        "not_found"
    );
}

#[test]
fn the_pending_transfer_is_seen_by_its_owner_and_its_target_only_while_it_lives() {
    let w = world();
    let offer = transfer_of(&w.acme, &w.ann, &w.bob, 72);
    let cy = user(3, "cy@example.com");
    let cy_admin = member(&w.acme, &cy, Role::ADMIN);
    let view = |who: &User, m: Option<&Membership>, t: Option<&OwnershipTransfer>, now| {
        codes(view_transfer(who.id, Some(&w.acme), m, t, now))
    };
    assert_eq!(view(&w.ann, Some(&w.ann_owner), Some(&offer), at(1)), "ok");
    assert_eq!(
        view_transfer(
            w.bob.id,
            Some(&w.acme),
            Some(&w.bob_viewer),
            Some(&offer),
            at(1)
        )
        .unwrap(),
        &offer
    );
    // Another member, even an admin, learns nothing of it.
    assert!(matches!(
        view_transfer(cy.id, Some(&w.acme), Some(&cy_admin), Some(&offer), at(1)),
        Err(Error::NotFound(Missing::Transfer))
    ));
    assert_eq!(view(&w.bob, None, Some(&offer), at(1)), "not_found");
    // Expired, or none: there is none.
    assert_eq!(
        view(&w.ann, Some(&w.ann_owner), Some(&offer), at(72)),
        "not_found"
    );
    assert_eq!(view(&w.ann, Some(&w.ann_owner), None, at(1)), "not_found");
    let theirs = transfer_of(&org(12, &w.ann), &w.ann, &w.bob, 72);
    assert_eq!(
        view(&w.ann, Some(&w.ann_owner), Some(&theirs), at(1)),
        "not_found"
    );
}

#[test]
fn the_owner_cancels_and_the_target_declines_a_live_transfer() {
    let w = world();
    let offer = transfer_of(&w.acme, &w.ann, &w.bob, 72);
    let cy = user(3, "cy@example.com");
    let cy_admin = member(&w.acme, &cy, Role::ADMIN);
    // Ended, and recorded as ended by whom and how; either way the target
    // is the transfer, labelled by its target's address.
    let ended = |action: Action, by: &User| {
        [
            Change::DeleteTransfer {
                organization_id: w.acme.id,
                id: offer.id,
            },
            Change::Audit(AuditEntry::new(
                w.acme.id,
                action,
                Actor::User(by.id),
                Target {
                    kind: TargetKind::OwnershipTransfer,
                    id: offer.id.to_string(),
                    label: Label::EmailOf(w.bob.id),
                },
            )),
        ]
    };
    let cancel = |who: &User, m: &Membership, t, now| {
        cancel_transfer(who.id, Some(&w.acme), Some(m), t, now)
    };
    assert_eq!(
        cancel(&w.ann, &w.ann_owner, Some(&offer), at(1))
            .unwrap()
            .changes(),
        ended(Action::OwnershipTransferCancelled, &w.ann)
    );
    // Only the owner cancels: the target and admins are refused.
    assert_eq!(
        codes(cancel(&w.bob, &w.bob_viewer, Some(&offer), at(1))),
        "forbidden"
    );
    assert_eq!(
        codes(cancel(&cy, &cy_admin, Some(&offer), at(1))),
        "forbidden"
    );
    assert_eq!(
        codes(cancel(&w.ann, &w.ann_owner, None, at(1))),
        "not_found"
    );
    assert_eq!(
        codes(cancel(&w.ann, &w.ann_owner, Some(&offer), at(72))),
        "not_found"
    );
    let decline = |who: &User, m: &Membership, t, now| {
        decline_transfer(who.id, Some(&w.acme), Some(m), t, now)
    };
    assert_eq!(
        decline(&w.bob, &w.bob_viewer, Some(&offer), at(1))
            .unwrap()
            .changes(),
        ended(Action::OwnershipTransferDeclined, &w.bob)
    );
    // Only the target declines: the owner and the other members are refused.
    for (who, m) in [(&w.ann, &w.ann_owner), (&cy, &cy_admin)] {
        let refused = decline(who, m, Some(&offer), at(1));
        assert!(
            matches!(refused, Err(Error::NotTransferTarget)),
            "{refused:?}"
        );
        assert_eq!(codes(decline(who, m, Some(&offer), at(1))), "forbidden");
    }
    assert_eq!(
        codes(decline(&w.bob, &w.bob_viewer, None, at(1))),
        "not_found"
    );
    assert_eq!(
        codes(decline(&w.bob, &w.bob_viewer, Some(&offer), at(72))),
        "not_found"
    );
    assert_eq!(
        codes(decline_transfer(
            w.bob.id,
            Some(&w.acme),
            None,
            Some(&offer),
            at(1)
        )),
        "not_found"
    );
}

#[test]
fn accepting_a_transfer_swaps_the_owners_in_one_change() {
    let w = world();
    let offer = transfer_of(&w.acme, &w.ann, &w.bob, 72);
    let memberships = anns(&w, Some(anns_other(&w)));
    let snapshot = AcceptTransferSnapshot {
        organization: Some(&w.acme),
        membership: Some(&w.bob_viewer),
        transfer: Some(&offer),
        owner_memberships: &memberships,
    };
    let decision = accept_transfer(w.bob.id, snapshot, at(71)).unwrap();
    assert_eq!(
        decision.changes(),
        [
            Change::DeleteTransfer {
                organization_id: w.acme.id,
                id: offer.id,
            },
            Change::TransferOwnership {
                organization_id: w.acme.id,
                from: w.ann.id,
                to: w.bob.id,
            },
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::OwnershipTransferred,
                Actor::User(w.bob.id),
                Target {
                    kind: TargetKind::OwnershipTransfer,
                    id: offer.id.to_string(),
                    label: Label::EmailOf(w.bob.id),
                },
            )),
        ]
    );
    assert_eq!(
        *decision.outcome(),
        Organization {
            owner_id: w.bob.id,
            ..w.acme.clone()
        }
    );
    // The previous owner stays, as an admin.
    assert_eq!(PREVIOUS_OWNER_ROLE, Role::ADMIN);
}

#[test]
fn accepting_a_transfer_is_not_found_then_forbidden_then_expired_then_d13() {
    let w = world();
    let offer = transfer_of(&w.acme, &w.ann, &w.bob, 72);
    let memberships = anns(&w, Some(anns_other(&w)));
    let only_acme = anns(&w, None);
    let snapshot = AcceptTransferSnapshot {
        organization: Some(&w.acme),
        membership: Some(&w.bob_viewer),
        transfer: Some(&offer),
        owner_memberships: &memberships,
    };
    let cy = user(3, "cy@example.com");
    let cy_admin = member(&w.acme, &cy, Role::ADMIN);
    let by_cy = AcceptTransferSnapshot {
        membership: Some(&cy_admin),
        ..snapshot
    };
    let by_ann = AcceptTransferSnapshot {
        membership: Some(&w.ann_owner),
        ..snapshot
    };
    let none = AcceptTransferSnapshot {
        transfer: None,
        ..snapshot
    };
    let last = AcceptTransferSnapshot {
        owner_memberships: &only_acme,
        ..snapshot
    };
    let accept = |actor: &User, snapshot, now| codes(accept_transfer(actor.id, snapshot, now));
    // 404: no transfer, whoever asks; nor to a non-member.
    assert_eq!(accept(&w.bob, none, at(1)), "not_found");
    assert_eq!(
        accept(
            &cy,
            AcceptTransferSnapshot {
                membership: Some(&cy_admin),
                ..none
            },
            at(80)
        ),
        "not_found"
    );
    assert_eq!(
        accept(
            &w.bob,
            AcceptTransferSnapshot {
                membership: None,
                ..snapshot
            },
            at(1)
        ),
        "not_found"
    );
    // Another organization's transfer, or one from an earlier owner, is none.
    let theirs = transfer_of(&org(12, &w.ann), &w.ann, &w.bob, 72);
    assert_eq!(
        accept(
            &w.bob,
            AcceptTransferSnapshot {
                transfer: Some(&theirs),
                ..snapshot
            },
            at(1)
        ),
        "not_found"
    );
    let stale = transfer_of(&w.acme, &cy, &w.bob, 72);
    assert_eq!(
        accept(
            &w.bob,
            AcceptTransferSnapshot {
                transfer: Some(&stale),
                ..snapshot
            },
            at(1)
        ),
        "not_found"
    );
    // 403: not its target, the owner included; before the expiry.
    assert_eq!(accept(&cy, by_cy, at(1)), "forbidden");
    assert_eq!(accept(&cy, by_cy, at(80)), "forbidden");
    assert!(matches!(
        accept_transfer(w.ann.id, by_ann, at(1)),
        Err(Error::NotTransferTarget)
    ));
    // 410: expired, from its expiry on; before D13.
    assert_eq!(accept(&w.bob, snapshot, at(72)), "transfer_expired");
    assert_eq!(accept(&w.bob, last, at(72)), "transfer_expired");
    // 409: Ann would be left without an organization of her own (D13).
    assert_eq!(accept(&w.bob, last, at(1)), "last_owned_organization");
    let (other_owner, other) = anns_other(&w);
    let other_pending = anns(&w, Some((other_owner, pending_deletion(&other, 24 * 30))));
    assert_eq!(
        accept(
            &w.bob,
            AcceptTransferSnapshot {
                owner_memberships: &other_pending,
                ..snapshot
            },
            at(1)
        ),
        "last_owned_organization"
    );
    assert_eq!(accept(&w.bob, snapshot, at(1)), "ok");
}

#[test]
fn owning_another_organization_counts_only_owned_live_ones() {
    let w = world();
    let (other_owner, other) = anns_other(&w);
    assert!(owns_another(
        w.ann.id,
        w.acme.id,
        &anns(&w, Some((other_owner.clone(), other.clone())))
    ));
    assert!(!owns_another(w.ann.id, w.acme.id, &anns(&w, None)));
    // Acme itself does not count when it is the one excepted, but counts
    // for another.
    assert!(owns_another(w.ann.id, other.id, &anns(&w, None)));
    assert!(!owns_another(
        w.ann.id,
        w.acme.id,
        &anns(&w, Some((other_owner.clone(), pending_deletion(&other, 1))))
    ));
    // Someone else's ownership is not hers.
    assert!(!owns_another(
        w.bob.id,
        other.id,
        &anns(&w, Some((other_owner, other)))
    ));
}

fn deletion_snapshot<'a>(
    w: &'a World,
    memberships: &'a [(Membership, Organization)],
) -> DeletionSnapshot<'a> {
    DeletionSnapshot {
        organization: Some(&w.acme),
        membership: Some(&w.ann_owner),
        owner_memberships: memberships,
        open_invitations: &[],
        transfer: None,
    }
}

#[test]
fn deleting_schedules_the_purge_revokes_open_invitations_and_ends_the_transfer() {
    let w = world();
    let memberships = anns(&w, Some(anns_other(&w)));
    let with = |n: u128, email: &str, expires_at: i64| Invitation {
        id: InvitationId::from_uuid(Uuid::from_u128(n)),
        expires_at: at(expires_at),
        ..invitation(&w.acme, email, InvitationState::Pending)
    };
    let open = [
        with(1, "cy@example.com", 48),
        with(2, "dee@example.com", 2),
        // Not open, though listed: left as it is.
        Invitation {
            state: InvitationState::Revoked { at: at(0) },
            ..with(3, "eve@example.com", 48)
        },
    ];
    let offer = transfer_of(&w.acme, &w.ann, &w.bob, 72);
    let snapshot = DeletionSnapshot {
        open_invitations: &open,
        transfer: Some(&offer),
        ..deletion_snapshot(&w, &memberships)
    };
    let grace = Duration::days(30);
    let decision = request_deletion(w.ann.id, snapshot, "Acme", grace, at(10)).unwrap();
    let deletion = ScheduledDeletion {
        requested_at: at(10),
        purge_after: at(10) + grace,
    };
    assert_eq!(*decision.outcome(), deletion);
    assert_eq!(
        decision.changes(),
        [
            Change::ScheduleDeletion {
                organization_id: w.acme.id,
                deletion,
            },
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::OrganizationDeletionScheduled,
                Actor::User(w.ann.id),
                Target::new(TargetKind::Organization, w.acme.id, "Acme"),
            )),
            Change::SetInvitationState {
                organization_id: w.acme.id,
                invitation_id: open[0].id,
                state: InvitationState::Revoked { at: at(10) },
            },
            // Expired already: closed as expired, its link keeps saying so.
            Change::SetInvitationState {
                organization_id: w.acme.id,
                invitation_id: open[1].id,
                state: InvitationState::Expired,
            },
            Change::DeleteTransfer {
                organization_id: w.acme.id,
                id: offer.id,
            },
        ]
    );
    assert_eq!(DEFAULT_DELETION_GRACE, Duration::days(30));
}

#[test]
fn deleting_needs_the_exact_name_before_anything_of_the_state() {
    let w = world();
    let memberships = anns(&w, Some(anns_other(&w)));
    let only_acme = anns(&w, None);
    let snapshot = deletion_snapshot(&w, &memberships);
    let grace = Duration::days(30);
    let delete =
        |snapshot, name: &str| codes(request_deletion(w.ann.id, snapshot, name, grace, at(1)));
    assert_eq!(delete(snapshot, "Acme"), "ok");
    // Exactly: untrimmed and case-sensitive (422).
    for wrong in ["acme", "ACME", " Acme", "Acme ", "", "Acme\n"] {
        let refused = request_deletion(w.ann.id, snapshot, wrong, grace, at(1));
        assert!(
            matches!(
                refused,
                Err(Error::Invalid {
                    field: "confirm_name",
                    ..
                })
            ),
            "{wrong:?}: {refused:?}"
        );
    }
    // 422 before 409 deletion_pending, which comes before D13.
    let deleting = pending_deletion(&w.acme, 24 * 30);
    let again = DeletionSnapshot {
        organization: Some(&deleting),
        ..snapshot
    };
    assert_eq!(delete(again, "acme"), "validation_failed");
    assert_eq!(delete(again, "Acme"), "deletion_pending");
    let again_last = DeletionSnapshot {
        owner_memberships: &only_acme,
        ..again
    };
    assert_eq!(delete(again_last, "Acme"), "deletion_pending");
    // D13: not the owner's last organization that is not pending deletion.
    let last = DeletionSnapshot {
        owner_memberships: &only_acme,
        ..snapshot
    };
    assert_eq!(delete(last, "Acme"), "last_owned_organization");
    assert_eq!(delete(last, "Acme "), "validation_failed");
    let (other_owner, other) = anns_other(&w);
    let other_pending = anns(&w, Some((other_owner, pending_deletion(&other, 1))));
    assert_eq!(
        delete(
            DeletionSnapshot {
                owner_memberships: &other_pending,
                ..snapshot
            },
            "Acme"
        ),
        "last_owned_organization"
    );
}

#[test]
fn only_the_owner_deletes_and_the_others_learn_nothing_of_a_deletion() {
    let w = world();
    let memberships = anns(&w, Some(anns_other(&w)));
    let snapshot = deletion_snapshot(&w, &memberships);
    let grace = Duration::days(30);
    let cy = user(3, "cy@example.com");
    let cy_admin = member(&w.acme, &cy, Role::ADMIN);
    let delete = |actor: &User, m: Option<&Membership>, organization| {
        let snapshot = DeletionSnapshot {
            membership: m,
            organization,
            ..snapshot
        };
        codes(request_deletion(actor.id, snapshot, "Acme", grace, at(1)))
    };
    assert_eq!(delete(&cy, Some(&cy_admin), Some(&w.acme)), "forbidden");
    assert_eq!(
        delete(&w.bob, Some(&w.bob_viewer), Some(&w.acme)),
        "forbidden"
    );
    assert_eq!(delete(&w.bob, None, Some(&w.acme)), "not_found");
    assert_eq!(delete(&w.ann, Some(&w.ann_owner), None), "not_found");
    let deleting = pending_deletion(&w.acme, 24 * 30);
    // Pending deletion: gone for every member but the owner.
    assert_eq!(delete(&cy, Some(&cy_admin), Some(&deleting)), "not_found");
    // The deletion, for the owner only; none when not pending.
    assert_eq!(
        view_deletion(w.ann.id, Some(&deleting), Some(&w.ann_owner)).unwrap(),
        ScheduledDeletion {
            requested_at: at(0),
            purge_after: at(24 * 30),
        }
    );
    assert!(matches!(
        view_deletion(w.ann.id, Some(&w.acme), Some(&w.ann_owner)),
        Err(Error::NotFound(Missing::Deletion))
    ));
    assert_eq!(
        codes(view_deletion(w.bob.id, Some(&w.acme), Some(&w.bob_viewer))),
        "forbidden"
    );
    assert_eq!(
        codes(view_deletion(cy.id, Some(&deleting), Some(&cy_admin))),
        "not_found"
    );
    assert_eq!(
        codes(view_deletion(
            w.bob.id,
            Some(&deleting),
            Some(&w.bob_viewer)
        )),
        "not_found"
    );
}

#[test]
fn the_owner_restores_before_the_purge_is_due_and_then_it_is_due() {
    let w = world();
    let deleting = pending_deletion(&w.acme, 24 * 30);
    let decision = restore(
        w.ann.id,
        Some(&deleting),
        Some(&w.ann_owner),
        at(24 * 30 - 1),
    )
    .unwrap();
    assert_eq!(
        decision.changes(),
        [
            Change::RestoreOrganization {
                organization_id: w.acme.id,
            },
            Change::Audit(AuditEntry::new(
                w.acme.id,
                Action::OrganizationRestored,
                Actor::User(w.ann.id),
                Target::new(TargetKind::Organization, w.acme.id, "Acme"),
            )),
        ]
    );
    assert_eq!(*decision.outcome(), w.acme);
    // From `purge_after` on there is nothing to restore; nor when it is not
    // pending deletion.
    assert!(matches!(
        restore(w.ann.id, Some(&deleting), Some(&w.ann_owner), at(24 * 30)),
        Err(Error::NotFound(Missing::Deletion))
    ));
    assert!(matches!(
        restore(w.ann.id, Some(&w.acme), Some(&w.ann_owner), at(1)),
        Err(Error::NotFound(Missing::Deletion))
    ));
    // Members, admins included, learn nothing of it.
    let cy = user(3, "cy@example.com");
    let cy_admin = member(&w.acme, &cy, Role::ADMIN);
    assert_eq!(
        codes(restore(cy.id, Some(&deleting), Some(&cy_admin), at(1))),
        "not_found"
    );
    assert_eq!(
        codes(restore(w.bob.id, Some(&w.acme), Some(&w.bob_viewer), at(1))),
        "forbidden"
    );
    // The purge is due from `purge_after` on, and only then.
    assert!(!purge_is_due(&deleting, at(24 * 30 - 1)));
    assert!(purge_is_due(&deleting, at(24 * 30)));
    assert!(!purge_is_due(&w.acme, at(24 * 365)));
    let early = purge(Some(&deleting), at(24 * 30 - 1));
    assert!(!*early.outcome() && early.changes().is_empty());
    let due = purge(Some(&deleting), at(24 * 30));
    assert!(*due.outcome());
    assert_eq!(
        due.changes(),
        [Change::PurgeOrganization {
            organization_id: w.acme.id,
        }]
    );
    // Restored meanwhile, or purged already: nothing more (idempotent).
    let restored = purge(Some(&w.acme), at(24 * 31));
    assert!(!*restored.outcome() && restored.changes().is_empty());
    let gone = purge(None, at(24 * 31));
    assert!(!*gone.outcome() && gone.changes().is_empty());
}

#[test]
fn an_organization_pending_deletion_leaves_its_owner_only_a_few_operations() {
    let w = world();
    let deleting = pending_deletion(&w.acme, 24 * 30);
    let cy = user(3, "cy@example.com");
    let cy_admin = member(&w.acme, &cy, Role::ADMIN);
    let allowed: Vec<Operation> = Operation::ALL
        .into_iter()
        .filter(|op| op.allowed_while_pending_deletion())
        .collect();
    assert_eq!(
        allowed,
        [
            Operation::ViewOrganization,
            Operation::DeleteOrganization,
            Operation::ViewDeletion,
            Operation::RestoreOrganization,
        ]
    );
    for operation in Operation::ALL {
        let owner = authorize_in(w.ann.id, Some(&deleting), Some(&w.ann_owner), operation);
        if operation.allowed_while_pending_deletion() {
            let (grant, organization) = owner.unwrap();
            assert_eq!(grant.capability(), operation.capability());
            assert_eq!(organization, &deleting);
        } else {
            assert!(
                matches!(owner, Err(Error::OrganizationPendingDeletion)),
                "{operation}: {owner:?}"
            );
        }
        // Everyone else is told it does not exist, as if it never had (D1).
        for (who, m) in [(&w.bob, &w.bob_viewer), (&cy, &cy_admin)] {
            let refused = authorize_in(who.id, Some(&deleting), Some(m), operation);
            assert!(
                matches!(refused, Err(Error::NotFound(Missing::Organization))),
                "{operation}: {refused:?}"
            );
        }
        assert_eq!(
            codes(authorize_in(w.bob.id, Some(&deleting), None, operation)),
            "not_found"
        );
        // Before its deletion, the matrix alone decides.
        assert!(authorize_in(w.ann.id, Some(&w.acme), Some(&w.ann_owner), operation).is_ok());
    }
    // A membership that says owner of an organization owned by someone
    // else reaches nothing of it.
    let bobs = Organization {
        owner_id: w.bob.id,
        ..deleting.clone()
    };
    assert_eq!(
        codes(authorize_in(
            w.ann.id,
            Some(&bobs),
            Some(&w.ann_owner),
            Operation::ViewOrganization
        )),
        "not_found"
    );
    // Nobody switches to it: its owner is told why.
    assert_eq!(
        codes(switch_active(
            w.ann.id,
            w.acme.id,
            Some(&deleting),
            Some(&w.ann_owner)
        )),
        "organization_pending_deletion"
    );
    assert_eq!(
        codes(switch_active(
            w.bob.id,
            w.acme.id,
            Some(&deleting),
            Some(&w.bob_viewer)
        )),
        "not_found"
    );
    // Nor does anyone leave it, or remove from it, but with its owner's 409.
    assert_eq!(
        codes(leave(w.bob.id, Some(&deleting), Some(&w.bob_viewer), None)),
        "not_found"
    );
    assert_eq!(
        codes(remove_member(
            w.ann.id,
            Some(&deleting),
            Some(&w.ann_owner),
            Some(&w.bob_viewer),
            None
        )),
        "organization_pending_deletion"
    );
}

#[test]
fn a_host_is_granted_nothing_in_an_organization_pending_deletion() {
    let w = world();
    let deleting = pending_deletion(&w.acme, 24 * 30);
    for capability in Capability::ALL {
        for m in [&w.ann_owner, &w.bob_viewer] {
            assert_eq!(
                authorize_for_host(m.user_id, w.acme.id, Some(&deleting), Some(m), capability),
                Err(crate::policy::Denial::NotAMember),
                "{capability}"
            );
            assert_eq!(
                authorize_for_host(m.user_id, w.acme.id, Some(&w.acme), Some(m), capability),
                authorize(m.user_id, w.acme.id, Some(m), capability),
                "{capability}"
            );
        }
        // A missing organization, or another one than asked: nothing.
        assert_eq!(
            authorize_for_host(w.ann.id, w.acme.id, None, Some(&w.ann_owner), capability),
            Err(crate::policy::Denial::NotAMember)
        );
        let other = org(11, &w.ann);
        assert_eq!(
            authorize_for_host(
                w.ann.id,
                w.acme.id,
                Some(&other),
                Some(&w.ann_owner),
                capability
            ),
            Err(crate::policy::Denial::NotAMember)
        );
    }
    // What a member still reaches, and what may be active.
    assert!(accessible(&w.ann_owner, &deleting) && !may_be_active(&w.ann_owner, &deleting));
    assert!(!accessible(&w.bob_viewer, &deleting) && !may_be_active(&w.bob_viewer, &deleting));
    assert!(accessible(&w.bob_viewer, &w.acme) && may_be_active(&w.bob_viewer, &w.acme));
    let elsewhere = member(&org(11, &w.bob), &w.bob, Role::OWNER);
    assert!(!accessible(&elsewhere, &w.acme));
}

#[test]
fn leaving_or_being_removed_ends_a_transfer_to_the_member_who_goes() {
    let w = world();
    let cy = user(3, "cy@example.com");
    let cy_admin = member(&w.acme, &cy, Role::ADMIN);
    let to_bob = transfer_of(&w.acme, &w.ann, &w.bob, 72);
    let to_cy = transfer_of(&w.acme, &w.ann, &cy, 72);
    let ends = Change::DeleteTransfer {
        organization_id: w.acme.id,
        id: to_bob.id,
    };
    let bob_goes = Change::DeleteMembership {
        organization_id: w.acme.id,
        user_id: w.bob.id,
    };
    // Recorded as Bob leaving, or as Bob removed by whoever removed him.
    let bob_left = Change::Audit(AuditEntry::new(
        w.acme.id,
        Action::MemberLeft,
        Actor::User(w.bob.id),
        Target::user(w.bob.id),
    ));
    let bob_removed_by = |by: &User| {
        Change::Audit(AuditEntry::new(
            w.acme.id,
            Action::MemberRemoved,
            Actor::User(by.id),
            Target::user(w.bob.id),
        ))
    };
    // The transfer goes first: it names the membership.
    let left = leave(w.bob.id, Some(&w.acme), Some(&w.bob_viewer), Some(&to_bob)).unwrap();
    assert_eq!(
        left.changes(),
        [ends.clone(), bob_goes.clone(), bob_left.clone()]
    );
    let removed = remove_member(
        w.ann.id,
        Some(&w.acme),
        Some(&w.ann_owner),
        Some(&w.bob_viewer),
        Some(&to_bob),
    )
    .unwrap();
    assert_eq!(
        removed.changes(),
        [ends, bob_goes.clone(), bob_removed_by(&w.ann)]
    );
    // A transfer to someone else stays.
    let left = leave(w.bob.id, Some(&w.acme), Some(&w.bob_viewer), Some(&to_cy)).unwrap();
    assert_eq!(left.changes(), [bob_goes.clone(), bob_left]);
    let removed = remove_member(
        cy.id,
        Some(&w.acme),
        Some(&cy_admin),
        Some(&w.bob_viewer),
        Some(&to_cy),
    )
    .unwrap();
    assert_eq!(removed.changes(), [bob_goes, bob_removed_by(&cy)]);
    // The owner still cannot leave, transfer or not.
    assert_eq!(
        codes(leave(
            w.ann.id,
            Some(&w.acme),
            Some(&w.ann_owner),
            Some(&to_bob)
        )),
        "owner_cannot_leave"
    );
}
