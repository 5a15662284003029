//! The seed's stories through the API: invitations from email to member,
//! every dead invitation with its own answer, removal on the next request;
//! each over SQLite and over the core's in-memory repository.

use chrono::Duration;
use poem::http::Method;
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    the_seed_story,
    dead_invitations_each_say_what_happened,
    sessions_sign_in_and_out,
    the_active_organization_is_remembered_across_sessions,
    plans_billing_and_the_host_hot_path,
    a_member_leaves_as_if_removed,
);

async fn a_member_leaves_as_if_removed(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let org = ann.org.clone();
    let bob = app.member_as(&ann, &org, "bob@example.com", "editor").await;
    let cy = app.sign_up("cy@example.com").await;
    let leave = format!("/v1/organizations/{org}/leave");
    app.post(&leave, None, json!({}))
        .await
        .problem(401, "unauthenticated");
    // An outsider learns nothing; the owner cannot leave.
    app.post(&leave, Some(&cy.token), json!({}))
        .await
        .problem(404, "not_found");
    app.post(&leave, Some(&ann.token), json!({}))
        .await
        .problem(409, "owner_cannot_leave");
    // Bob is active in Ann's organization; he leaves it.
    let active = app
        .get("/v1/me/active-organization", Some(&bob.token))
        .await
        .expect(200)
        .json();
    assert_eq!(active["organization"]["id"], org.as_str());
    app.post(&leave, Some(&bob.token), json!({}))
        .await
        .expect(204);
    // His very next request is refused, and he falls back to his own.
    app.get(&format!("/v1/organizations/{org}"), Some(&bob.token))
        .await
        .problem(404, "not_found");
    let active = app
        .get("/v1/me/active-organization", Some(&bob.token))
        .await
        .expect(200)
        .json();
    assert_eq!(active["organization"]["id"], bob.org.as_str());
    assert_eq!(active["organization"]["is_owner"], true);
    let members = app
        .get(
            &format!("/v1/organizations/{org}/members"),
            Some(&ann.token),
        )
        .await
        .expect(200)
        .json();
    let emails: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ann@example.com"]);
    // Leaving again: he is no member.
    app.post(&leave, Some(&bob.token), json!({}))
        .await
        .problem(404, "not_found");
}

async fn the_seed_story(app: TestApp) {
    // Sign up: a default organization, owned and active.
    let ann = app.sign_up("  Ann@Example.COM ").await;
    assert_eq!(ann.email, "ann@example.com");
    let me = app.get("/v1/me", Some(&ann.token)).await.expect(200).json();
    assert_eq!(me["active_organization_id"], ann.org);
    // Create another organization: switched to it, free, with every capability.
    let acme = app
        .post(
            "/v1/organizations",
            Some(&ann.token),
            json!({"name": "  Acme  "}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(acme["name"], "Acme");
    assert_eq!(acme["plan"], "free");
    assert_eq!(acme["is_owner"], true);
    assert_eq!(acme["capabilities"].as_array().unwrap().len(), 19);
    let acme_id = acme["id"].as_str().unwrap().to_owned();
    let active = app
        .get("/v1/me/active-organization", Some(&ann.token))
        .await
        .expect(200)
        .json();
    assert_eq!(active["organization"]["id"], acme_id.as_str());
    // Invite: the token is not in the response, only in the email.
    let reply = app
        .post(
            &format!("/v1/organizations/{acme_id}/invitations"),
            Some(&ann.token),
            json!({"email": "Bob@Example.com"}),
        )
        .await
        .expect(201);
    let invitation = reply.json();
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["role"], "viewer");
    assert_eq!(invitation["email"], "bob@example.com");
    let token = app.token_of(invitation["id"].as_str().unwrap()).await;
    assert!(!String::from_utf8_lossy(&reply.bytes).contains(&token));
    // The landing page.
    let preview = app
        .get(&format!("/v1/invitations/{token}"), None)
        .await
        .expect(200)
        .json();
    assert_eq!(preview["organization_name"], "Acme");
    assert_eq!(preview["status"], "pending");
    assert_eq!(preview["inviter_email"], "ann@example.com");
    assert_eq!(preview["email"], "bob@example.com");
    // Bob signs up from the link: accepted in the same transaction.
    let bob = app
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "bob@example.com", "password": "hunter2hunter2", "display_name": "Bob", "invitation_token": token}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(bob["invitation"]["status"], "accepted");
    assert_eq!(bob["invitation"]["organization_id"], acme_id.as_str());
    assert_eq!(bob["default_organization"]["name"], "Bob's organization");
    let bob_token = bob["token"].as_str().unwrap().to_owned();
    let bob_id = bob["user"]["id"].as_str().unwrap().to_owned();
    // Bob's switcher: his own (crown) and Acme (viewer badge, active).
    let list = app
        .get("/v1/organizations", Some(&bob_token))
        .await
        .expect(200)
        .json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(list["next_cursor"], serde_json::Value::Null);
    let acme_entry = items.iter().find(|i| i["id"] == acme_id.as_str()).unwrap();
    assert_eq!(acme_entry["role"], "viewer");
    assert_eq!(acme_entry["role_name"], "Viewer");
    assert_eq!(acme_entry["is_owner"], false);
    assert_eq!(acme_entry["is_active"], true);
    // A viewer's capabilities: the five of the seed.
    let org = app
        .get(&format!("/v1/organizations/{acme_id}"), Some(&bob_token))
        .await
        .expect(200)
        .json();
    assert_eq!(org["capabilities"].as_array().unwrap().len(), 5);
    let forbidden = app
        .get(
            &format!("/v1/organizations/{acme_id}/billing"),
            Some(&bob_token),
        )
        .await
        .problem(403, "forbidden");
    assert!(
        forbidden.json()["detail"]
            .as_str()
            .unwrap()
            .contains("view-only access")
    );
    // The owner sees members with roles and join dates.
    let members = app
        .get(
            &format!("/v1/organizations/{acme_id}/members"),
            Some(&ann.token),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(members["items"].as_array().unwrap().len(), 2);
    assert!(members["items"][1]["joined_at"].is_string());
    // The owner removes Bob: his very next request is refused and his
    // active organization falls back to his own.
    app.call(
        Method::DELETE,
        &format!("/v1/organizations/{acme_id}/members/{bob_id}"),
        Some(&ann.token),
        None,
    )
    .await
    .expect(204);
    app.get(&format!("/v1/organizations/{acme_id}"), Some(&bob_token))
        .await
        .problem(404, "not_found");
    let active = app
        .get("/v1/me/active-organization", Some(&bob_token))
        .await
        .expect(200)
        .json();
    assert_eq!(active["organization"]["name"], "Bob's organization");
    assert_eq!(active["organization"]["is_owner"], true);
    // His old link never admits him again.
    app.post(
        "/v1/invitations/accept",
        Some(&bob_token),
        json!({"token": token}),
    )
    .await
    .problem(409, "invitation_already_accepted");
    // The owner cannot be removed.
    app.call(
        Method::DELETE,
        &format!("/v1/organizations/{acme_id}/members/{}", ann.id),
        Some(&ann.token),
        None,
    )
    .await
    .problem(409, "owner_cannot_be_removed");
}

async fn dead_invitations_each_say_what_happened(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let org = ann.org.clone();
    let cy = app.sign_up("cy@example.com").await;
    let dee = app.sign_up("dee@example.com").await;
    let accept = |token: String, who: String| {
        let app = &app;
        async move {
            app.post(
                "/v1/invitations/accept",
                Some(&who),
                json!({"token": token}),
            )
            .await
        }
    };
    // Unknown and malformed tokens.
    accept("A".repeat(43), cy.token.clone())
        .await
        .problem(404, "not_found");
    accept("nope".into(), cy.token.clone())
        .await
        .problem(404, "not_found");
    // The wrong account.
    let (_, token) = app.invite(&ann, &org, "cy@example.com").await;
    accept(token.clone(), dee.token.clone())
        .await
        .problem(403, "invitation_email_mismatch");
    // Re-inviting replaces: the old link says revoked, the new one works.
    let (_, newer) = app.invite(&ann, &org, "cy@example.com").await;
    assert_ne!(token, newer);
    accept(token.clone(), cy.token.clone())
        .await
        .problem(410, "invitation_revoked");
    let pending = app
        .get(
            &format!("/v1/organizations/{org}/invitations"),
            Some(&ann.token),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    // Accepting twice while a member is idempotent.
    accept(newer.clone(), cy.token.clone()).await.expect(200);
    let again = accept(newer.clone(), cy.token.clone())
        .await
        .expect(200)
        .json();
    assert_eq!(again["organization"]["id"], org.as_str());
    assert_eq!(again["organization"]["is_active"], true);
    // Inviting a member is a conflict; revoking a used invitation too.
    app.post(
        &format!("/v1/organizations/{org}/invitations"),
        Some(&ann.token),
        json!({"email": "cy@example.com"}),
    )
    .await
    .problem(409, "already_member");
    // Only viewers are invited.
    app.post(
        &format!("/v1/organizations/{org}/invitations"),
        Some(&ann.token),
        json!({"email": "eve@example.com", "role": "owner"}),
    )
    .await
    .problem(403, "role_not_assignable");
    // Revoked by the owner: the link stops working.
    let (id, revoked) = app.invite(&ann, &org, "dee@example.com").await;
    app.call(
        Method::DELETE,
        &format!("/v1/organizations/{org}/invitations/{id}"),
        Some(&ann.token),
        None,
    )
    .await
    .expect(204);
    accept(revoked.clone(), dee.token.clone())
        .await
        .problem(410, "invitation_revoked");
    let preview = app
        .get(&format!("/v1/invitations/{revoked}"), None)
        .await
        .expect(200)
        .json();
    assert_eq!(preview["status"], "revoked");
    // A dead link tells its status and nothing else.
    for field in [
        "organization_name",
        "email",
        "inviter_email",
        "role",
        "expires_at",
    ] {
        assert!(preview[field].is_null(), "{field}: {preview}");
    }
    // Expired after the lifetime (7 days by default).
    let (_, late) = app.invite(&ann, &org, "dee@example.com").await;
    // Ann and Dee come back within the week, so that their sessions do not
    // idle out (7 days by default) while the invitation does.
    app.clock.advance(Duration::days(4));
    for person in [&ann, &dee] {
        app.get("/v1/me", Some(&person.token)).await.expect(200);
    }
    app.clock.advance(Duration::days(3));
    accept(late.clone(), dee.token.clone())
        .await
        .problem(410, "invitation_expired");
    let none = app
        .get(
            &format!("/v1/organizations/{org}/invitations"),
            Some(&ann.token),
        )
        .await
        .expect(200)
        .json();
    assert!(none["items"].as_array().unwrap().is_empty());
    // After expiry the same email can be invited again.
    let (_, fresh) = app.invite(&ann, &org, "dee@example.com").await;
    accept(fresh, dee.token.clone()).await.expect(200);
}

async fn sessions_sign_in_and_out(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    app.post(
        "/v1/auth/signup",
        None,
        json!({"email": "ANN@example.com", "password": "another password"}),
    )
    .await
    .problem(409, "email_taken");
    let wrong = app
        .post(
            "/v1/auth/signin",
            None,
            json!({"email": "ann@example.com", "password": "wrong password"}),
        )
        .await
        .problem(401, "invalid_credentials");
    let unknown = app
        .post(
            "/v1/auth/signin",
            None,
            json!({"email": "nobody@example.com", "password": "wrong password"}),
        )
        .await
        .problem(401, "invalid_credentials");
    assert_eq!(wrong.bytes, unknown.bytes);
    let signed_in = app
        .post(
            "/v1/auth/signin",
            None,
            json!({"email": " ANN@example.com", "password": "correct horse battery"}),
        )
        .await
        .expect(200)
        .json();
    let second = signed_in["token"].as_str().unwrap().to_owned();
    assert_ne!(second, ann.token);
    assert_eq!(second.len(), 43);
    // Signing out ends that session only.
    app.post("/v1/auth/signout", Some(&ann.token), json!({}))
        .await
        .expect(204);
    app.get("/v1/me", Some(&ann.token))
        .await
        .problem(401, "unauthenticated");
    app.get("/v1/me", Some(&second)).await.expect(200);
}

async fn the_active_organization_is_remembered_across_sessions(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let second = app
        .post(
            "/v1/organizations",
            Some(&ann.token),
            json!({"name": "Second"}),
        )
        .await
        .expect(201)
        .json();
    app.call(
        Method::PUT,
        "/v1/me/active-organization",
        Some(&ann.token),
        Some(json!({"organization_id": ann.org})),
    )
    .await
    .expect(200);
    app.post("/v1/auth/signout", Some(&ann.token), json!({}))
        .await
        .expect(204);
    let again = app
        .post(
            "/v1/auth/signin",
            None,
            json!({"email": "ann@example.com", "password": "correct horse battery"}),
        )
        .await
        .expect(200)
        .json();
    let token = again["token"].as_str().unwrap();
    let me = app.get("/v1/me", Some(token)).await.expect(200).json();
    assert_eq!(me["active_organization_id"], ann.org);
    // Switching to an organization one is not in: 404.
    let bob = app.sign_up("bob@example.com").await;
    app.call(
        Method::PUT,
        "/v1/me/active-organization",
        Some(&bob.token),
        Some(json!({"organization_id": second["id"]})),
    )
    .await
    .problem(404, "not_found");
}

async fn plans_billing_and_the_host_hot_path(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let plans = app.get("/v1/plans", None).await.expect(200).json();
    let ids: Vec<&str> = plans["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["free", "pro", "enterprise"]);
    assert_eq!(plans["items"][0]["limits"]["agents"], 3);
    assert_eq!(
        plans["items"][2]["limits"]["agents"],
        serde_json::Value::Null
    );
    let roles = app.get("/v1/roles", None).await.expect(200).json();
    assert_eq!(roles["capabilities"].as_array().unwrap().len(), 19);
    let billing = app
        .get(
            &format!("/v1/organizations/{}/billing", ann.org),
            Some(&ann.token),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(billing["plan"], "free");
    assert_eq!(billing["usage"]["agents"], 0);
    let changed = app
        .call(
            Method::PUT,
            &format!("/v1/organizations/{}/billing/plan", ann.org),
            Some(&ann.token),
            Some(json!({"plan": "pro"})),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(changed["limits"]["agents"], 50);
    app.call(
        Method::PUT,
        &format!("/v1/organizations/{}/billing/plan", ann.org),
        Some(&ann.token),
        Some(json!({"plan": "gold"})),
    )
    .await
    .problem(422, "validation_failed");
    // The hot path for hosts.
    let ask = |capability: &str, user: &str| json!({"user_id": user, "organization_id": ann.org, "capability": capability});
    let service = crate::support::SERVICE_TOKEN;
    let yes = app
        .post(
            "/v1/authorize",
            Some(service),
            ask("manage_members", &ann.id),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(yes, json!({"allowed": true, "role": "owner"}));
    let stranger = uuid::Uuid::now_v7().to_string();
    let no = app
        .post(
            "/v1/authorize",
            Some(service),
            ask("view_resources", &stranger),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(no, json!({"allowed": false, "role": null}));
    app.post("/v1/authorize", Some(service), ask("fly", &ann.id))
        .await
        .problem(422, "validation_failed");
    app.post("/v1/authorize", Some(&"x".repeat(43)), ask("fly", &ann.id))
        .await
        .problem(401, "unauthenticated");
}
