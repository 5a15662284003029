//! The seed's story over `tenancy serve`, told through the generated client
//! (`tenancy-client`): what a host written in Rust sees, typed.

use std::path::Path;

use tenancy_client::types::Problem;
use tenancy_client::types::{
    AuthorizeRequest, InviteRequest, LinkTokenRequest, NameRequest, SignUpInvitationStatus,
    SignUpRequest, SwitchRequest,
};
use tenancy_client::{Error, ResponseValue};
use uuid::Uuid;

use crate::support::Server;

const PUBLIC_URL: &str = "http://tenancy.test";
const PASSWORD: &str = "correct horse battery";

/// 43 base64url characters, as `--service-token` requires.
fn service_token() -> String {
    "s".repeat(42) + "A"
}

fn serve(dir: &Path) -> Server {
    Server::start(
        dir,
        &[
            "--public-url",
            PUBLIC_URL,
            "--service-token",
            &service_token(),
        ],
    )
}

fn sign_up_request(email: &str, invitation_token: Option<String>) -> SignUpRequest {
    SignUpRequest {
        display_name: None,
        email: email.parse().expect("an address within the length limit"),
        invitation_token,
        password: PASSWORD.parse().expect("a valid password"),
    }
}

/// Whether `capability` is among `capabilities`, compared as sent, so that the
/// test reads the same whether the document types them as strings or an enum.
fn grants<T: serde::Serialize>(capabilities: &[T], capability: &str) -> bool {
    capabilities
        .iter()
        .any(|c| serde_json::to_value(c).unwrap() == capability)
}

/// The problem of a refusal, which must be a documented error response.
fn refusal<T: std::fmt::Debug>(outcome: Result<ResponseValue<T>, Error<Problem>>) -> Problem {
    match outcome {
        Err(Error::ErrorResponse(response)) => {
            let status = response.status().as_u16();
            let problem = response.into_inner();
            assert_eq!(status, problem.status, "{problem:?}");
            problem
        }
        other => panic!("expected a problem, got {other:?}"),
    }
}

fn question(user_id: Uuid, organization_id: Uuid, capability: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        capability: capability.parse().expect("a capability of the document"),
        organization_id,
        user_id,
    }
}

#[tokio::test]
async fn the_seed_story_through_the_generated_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let base = server.base_url();
    let public = tenancy_client::anonymous(&base).unwrap();

    // Ann signs up and creates an organization, which she owns.
    let ann = public
        .sign_up(&sign_up_request("ann@example.com", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ann.user.email, "ann@example.com");
    assert!(ann.invitation.is_none(), "{:?}", ann.invitation);
    assert_eq!(ann.default_organization.role, "owner");
    assert_eq!(ann.default_organization.role_name, "Owner");
    assert!(!ann.user.email_verified);
    // Inviting needs a verified address: she opens her verification email's link.
    let link = server.wait_for_link("ann@example.com", "verify-email", &[]);
    let verified = public
        .verify_email(&LinkTokenRequest {
            token: link.parse().expect("a token of the document's pattern"),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.user.email_verified);
    let ann_client = tenancy_client::with_bearer(&base, &ann.token).unwrap();
    let acme = ann_client
        .create_organization(&NameRequest {
            name: "Acme Rockets".parse().expect("a valid name"),
        })
        .await
        .unwrap();
    assert_eq!(acme.status().as_u16(), 201);
    let acme = acme.into_inner();
    assert_eq!(acme.name, "Acme Rockets");
    assert_eq!(acme.owner_id, ann.user.id);
    assert!(acme.is_owner);
    assert!(
        grants(&acme.capabilities, "manage_members"),
        "{:?}",
        acme.capabilities
    );

    // She invites Bob, who signs up with the token of the email.
    let invitation = ann_client
        .create_invitation(
            &acme.id,
            &InviteRequest {
                email: "bob@example.com".parse().unwrap(),
                role: None,
            },
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(invitation.organization_id, acme.id);
    assert_eq!(invitation.role, "viewer");
    assert_eq!(invitation.invited_by, ann.user.id);
    // The client leaves addresses to the server, which takes Unicode forms
    // and normalizes them (the document's pattern is only their ASCII form).
    let unicode = ann_client
        .create_invitation(
            &acme.id,
            &InviteRequest {
                email: " ＣAROL@Exämple.test ".parse().unwrap(),
                role: None,
            },
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unicode.email, "carol@xn--exmple-cua.test");
    let token = server.wait_for_link("bob@example.com", "invitations", &[]);
    let bob = public
        .sign_up(&sign_up_request("bob@example.com", Some(token)))
        .await
        .unwrap()
        .into_inner();
    let joined = bob.invitation.expect("the invitation was presented");
    assert_eq!(joined.status, SignUpInvitationStatus::Accepted);
    assert_eq!(joined.organization_id, Some(acme.id));
    let bob_client = tenancy_client::with_bearer(&base, &bob.token).unwrap();

    // Bob sees Acme as a viewer, active since he joined it, beside his own.
    let seen = bob_client.get_organization(&acme.id).await.unwrap();
    assert_eq!(seen.role, "viewer");
    assert_eq!(seen.role_name, "Viewer");
    assert!(!seen.is_owner);
    assert!(
        !grants(&seen.capabilities, "manage_members"),
        "{:?}",
        seen.capabilities
    );
    let active = bob_client.get_active_organization().await.unwrap();
    assert_eq!(active.organization.id, acme.id);
    let switcher = bob_client
        .list_organizations(None, None)
        .await
        .unwrap()
        .into_inner();
    let mut ids: Vec<Uuid> = switcher.items.iter().map(|entry| entry.id).collect();
    ids.sort();
    let mut expected = vec![acme.id, bob.default_organization.id];
    expected.sort();
    assert_eq!(ids, expected, "{switcher:?}");

    // A viewer may not rename it: a typed 403 `forbidden`, and nothing changed.
    let problem = refusal(
        bob_client
            .rename_organization(
                &acme.id,
                &NameRequest {
                    name: "Bob's Rockets".parse().expect("a valid name"),
                },
            )
            .await,
    );
    assert_eq!(problem.status, 403, "{problem:?}");
    assert_eq!(problem.code.to_string(), "forbidden", "{problem:?}");
    assert_eq!(
        ann_client.get_organization(&acme.id).await.unwrap().name,
        "Acme Rockets"
    );

    // He switches to his own organization.
    let switched = bob_client
        .set_active_organization(&SwitchRequest {
            organization_id: bob.default_organization.id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(switched.organization.id, bob.default_organization.id);
    assert!(switched.organization.is_active);
    assert!(switched.organization.is_owner);
    assert_eq!(
        bob_client.get_me().await.unwrap().active_organization_id,
        Some(bob.default_organization.id)
    );

    // The host asks, with the service token, what Bob and Ann may do in Acme.
    let host = tenancy_client::with_bearer(&base, &service_token()).unwrap();
    let view = host
        .authorize(&question(bob.user.id, acme.id, "view_resources"))
        .await
        .unwrap()
        .into_inner();
    assert!(view.allowed);
    assert_eq!(view.role.as_deref(), Some("viewer"));
    let manage = host
        .authorize(&question(bob.user.id, acme.id, "manage_members"))
        .await
        .unwrap()
        .into_inner();
    assert!(!manage.allowed);
    assert_eq!(manage.role.as_deref(), Some("viewer"));
    let owner = host
        .authorize(&question(ann.user.id, acme.id, "manage_members"))
        .await
        .unwrap()
        .into_inner();
    assert!(owner.allowed);
    assert_eq!(owner.role.as_deref(), Some("owner"));
    // A session token is not the service token.
    let problem = refusal(
        bob_client
            .authorize(&question(bob.user.id, acme.id, "view_resources"))
            .await,
    );
    assert_eq!(problem.status, 401, "{problem:?}");

    // Ann removes Bob: his next request about Acme is a 404, as if it never existed.
    let removed = ann_client
        .remove_member(&acme.id, &bob.user.id)
        .await
        .unwrap();
    assert_eq!(removed.status().as_u16(), 204);
    let problem = refusal(bob_client.get_organization(&acme.id).await);
    assert_eq!(problem.status, 404, "{problem:?}");
    assert_eq!(problem.code.to_string(), "not_found", "{problem:?}");
    let members = ann_client
        .list_members(&acme.id, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        members.items.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        [ann.user.id]
    );
    let gone = host
        .authorize(&question(bob.user.id, acme.id, "view_resources"))
        .await
        .unwrap()
        .into_inner();
    assert!(!gone.allowed);
    assert_eq!(gone.role, None);
}
