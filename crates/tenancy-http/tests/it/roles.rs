//! Roles through the API (R25, R26, D14): the matrix, changing a member's
//! role, custom roles and their errors, invitations with any role, and every
//! change in force on the holder's next request; each over SQLite and over
//! the core's in-memory repository.

use poem::http::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Person, Reply, SERVICE_TOKEN, TestApp};

on_both_backends!(
    a_role_change_applies_on_the_next_request,
    nobody_gives_what_they_lack,
    custom_roles_are_validated_and_limited,
    a_role_in_use_is_deleted_only_by_moving_its_holders,
    a_custom_roles_new_capabilities_apply_on_the_next_request,
    invitations_carry_any_assignable_role,
);

fn org_path(org: &str, rest: &str) -> String {
    format!("/v1/organizations/{org}{rest}")
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    app.call(Method::PATCH, path, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Reply {
    app.call(Method::DELETE, path, Some(token), None).await
}

/// Gives `member` the role `role` in `org`, as `by`.
async fn assign(app: &TestApp, by: &Person, org: &str, member: &Person, role: &str) -> Reply {
    put(
        app,
        &org_path(org, &format!("/members/{}/role", member.id)),
        &by.token,
        json!({"role": role}),
    )
    .await
}

/// Creates a custom role in `org`, as `by`.
async fn create_role(app: &TestApp, by: &Person, org: &str, body: Value) -> Reply {
    app.post(&org_path(org, "/roles"), Some(&by.token), body)
        .await
}

/// Tries to create an agent: 201 or the refusal.
async fn create_agent(app: &TestApp, who: &Person, org: &str) -> Reply {
    app.post(
        &org_path(org, "/agents"),
        Some(&who.token),
        json!({"name": "Cost bot"}),
    )
    .await
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The one field a 422 names.
fn invalid_field(reply: Reply) -> String {
    let body = reply.problem(422, "validation_failed").json();
    body["errors"][0]["field"].as_str().unwrap().to_owned()
}

async fn member_role(app: &TestApp, owner: &Person, org: &str, member: &Person) -> Value {
    let members = app
        .get(&org_path(org, "/members"), Some(&owner.token))
        .await
        .expect(200)
        .json();
    members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == member.id.as_str())
        .unwrap_or_else(|| panic!("{} is not a member: {members}", member.email))
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_matrix_lists_the_four_built_in_roles_and_every_capability() {
    let app = TestApp::new().await;
    let matrix = app.get("/v1/roles", None).await.expect(200).json();
    let items = matrix["items"].as_array().unwrap();
    let keys: Vec<&str> = items.iter().map(|r| r["role"].as_str().unwrap()).collect();
    assert_eq!(keys, ["owner", "admin", "editor", "viewer"]);
    let names: Vec<&str> = items.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Owner", "Admin", "Editor", "Viewer"]);
    let counts: Vec<usize> = items
        .iter()
        .map(|r| r["capabilities"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, [19, 17, 11, 5]);
    let capabilities = matrix["capabilities"].as_array().unwrap();
    assert_eq!(capabilities.len(), 19);
    assert_eq!(capabilities[0]["name"], "view_resources");
    let owner_only: Vec<&str> = capabilities
        .iter()
        .filter(|c| c["grantable"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(owner_only, ["delete_organization", "transfer_ownership"]);
    // Every list of capabilities is in the order of the matrix.
    let order: Vec<String> = capabilities
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(strings(&items[0]["capabilities"]), order);
    let editor = strings(&items[2]["capabilities"]);
    let mut sorted = editor.clone();
    sorted.sort_by_key(|c| order.iter().position(|o| o == c));
    assert_eq!(editor, sorted);
}

async fn a_role_change_applies_on_the_next_request(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let org = ann.org.clone();
    let bob = app.viewer(&ann, &org, "bob@example.com").await;
    let carol = app
        .member_as(&ann, &org, "carol@example.com", "admin")
        .await;
    let outsider = app.sign_up("outsider@example.com").await;
    create_agent(&app, &bob, &org)
        .await
        .problem(403, "forbidden");
    // Viewer to editor: `manage_agents` on the very next request.
    let member = assign(&app, &ann, &org, &bob, "editor")
        .await
        .expect(200)
        .json();
    assert_eq!(member["user_id"], bob.id.as_str());
    assert_eq!(member["role"], "editor");
    assert_eq!(member["role_name"], "Editor");
    create_agent(&app, &bob, &org).await.expect(201);
    let seen = app
        .get(&org_path(&org, ""), Some(&bob.token))
        .await
        .expect(200)
        .json();
    assert_eq!(seen["role"], "editor");
    assert_eq!(seen["role_name"], "Editor");
    assert_eq!(seen["is_owner"], false);
    assert!(strings(&seen["capabilities"]).contains(&"manage_agents".to_owned()));
    assert_eq!(seen["capabilities"].as_array().unwrap().len(), 11);
    let switcher = app
        .get("/v1/organizations", Some(&bob.token))
        .await
        .expect(200)
        .json();
    let entry = switcher["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == org.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["role"], "editor");
    assert_eq!(entry["role_name"], "Editor");
    let listed = member_role(&app, &ann, &org, &bob).await;
    assert_eq!(listed["role"], "editor");
    assert_eq!(listed["role_name"], "Editor");
    // The role the member holds already: 200, nothing changes.
    let same = assign(&app, &ann, &org, &bob, "editor")
        .await
        .expect(200)
        .json();
    assert_eq!(same["role"], "editor");
    // An admin acts on members too, but never on the owner, nor on itself.
    assign(&app, &carol, &org, &bob, "viewer").await.expect(200);
    create_agent(&app, &bob, &org)
        .await
        .problem(403, "forbidden");
    assign(&app, &carol, &org, &ann, "viewer")
        .await
        .problem(409, "owner_role_immutable");
    assign(&app, &ann, &org, &ann, "admin")
        .await
        .problem(409, "owner_role_immutable");
    assign(&app, &carol, &org, &carol, "viewer")
        .await
        .problem(409, "cannot_change_own_role");
    // Nobody is given the owner's role, nor one the organization lacks.
    assign(&app, &ann, &org, &bob, "owner")
        .await
        .problem(403, "role_not_assignable");
    assign(&app, &ann, &org, &bob, "ghost")
        .await
        .problem(403, "role_not_assignable");
    // 404 for a user who is not a member, and for a non-member caller; a
    // member without `manage_members` is refused before the body is read.
    assign(&app, &ann, &org, &outsider, "editor")
        .await
        .problem(404, "not_found");
    assign(&app, &outsider, &org, &bob, "editor")
        .await
        .problem(404, "not_found");
    put(
        &app,
        &org_path(&org, &format!("/members/{}/role", carol.id)),
        &bob.token,
        json!({"role": 42}),
    )
    .await
    .problem(403, "forbidden");
    let path = org_path(&org, &format!("/members/{}/role", bob.id));
    assert_eq!(
        invalid_field(put(&app, &path, &ann.token, json!({"role": 42})).await),
        "role"
    );
    assert_eq!(
        invalid_field(put(&app, &path, &ann.token, json!({})).await),
        "role"
    );
    app.client
        .put(&path)
        .header("authorization", format!("Bearer {}", ann.token))
        .content_type("application/json")
        .body("{")
        .send()
        .await
        .assert_status(poem::http::StatusCode::BAD_REQUEST);
    app.call(Method::PUT, &path, None, Some(json!({"role": "editor"})))
        .await
        .problem(401, "unauthenticated");
}

async fn nobody_gives_what_they_lack(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let org = ann.org.clone();
    create_role(
        &app,
        &ann,
        &org,
        json!({"key": "people", "name": "People", "capabilities": [
            "view_resources", "chat_with_agents", "run_investigations",
            "chat_with_report_results", "pin_items", "manage_members",
        ]}),
    )
    .await
    .expect(201);
    let dave = app
        .member_as(&ann, &org, "dave@example.com", "people")
        .await;
    let bob = app.viewer(&ann, &org, "bob@example.com").await;
    let eve = app.member_as(&ann, &org, "eve@example.com", "editor").await;
    // Dave holds a viewer's capabilities and `manage_members`, but no
    // `manage_agents`: he cannot give `editor`, nor take it away, nor remove
    // an editor.
    assign(&app, &dave, &org, &bob, "editor")
        .await
        .problem(403, "role_not_assignable");
    assign(&app, &dave, &org, &eve, "viewer")
        .await
        .problem(403, "role_not_assignable");
    app.call(
        Method::DELETE,
        &org_path(&org, &format!("/members/{}", eve.id)),
        Some(&dave.token),
        None,
    )
    .await
    .problem(403, "forbidden");
    app.post(
        &org_path(&org, "/invitations"),
        Some(&dave.token),
        json!({"email": "frank@example.com", "role": "editor"}),
    )
    .await
    .problem(403, "role_not_assignable");
    // With `manage_members` and `view_resources` alone, even less.
    create_role(
        &app,
        &ann,
        &org,
        json!({"key": "gatekeeper", "name": "Gatekeeper", "capabilities": ["view_resources", "manage_members"]}),
    )
    .await
    .expect(201);
    let gail = app
        .member_as(&ann, &org, "gail@example.com", "gatekeeper")
        .await;
    assign(&app, &gail, &org, &bob, "editor")
        .await
        .problem(403, "role_not_assignable");
    // What he holds himself he gives.
    assign(&app, &dave, &org, &bob, "viewer").await.expect(200);
    assign(&app, &dave, &org, &bob, "people").await.expect(200);
    let invited = app
        .post(
            &org_path(&org, "/invitations"),
            Some(&dave.token),
            json!({"email": "frank@example.com", "role": "viewer"}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(invited["role"], "viewer");
    // He cannot put into a role what he lacks.
    create_role(
        &app,
        &dave,
        &org,
        json!({"key": "nope", "name": "Nope", "capabilities": ["view_resources"]}),
    )
    .await
    .problem(403, "forbidden");
}

async fn custom_roles_are_validated_and_limited(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let org = ann.org.clone();
    let bob = app.viewer(&ann, &org, "bob@example.com").await;
    let outsider = app.sign_up("outsider@example.com").await;
    // Any member lists the roles: the four built-in ones first.
    let roles = app
        .get(&org_path(&org, "/roles"), Some(&bob.token))
        .await
        .expect(200)
        .json();
    let items = roles["items"].as_array().unwrap();
    let keys: Vec<&str> = items.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["owner", "admin", "editor", "viewer"]);
    assert!(items.iter().all(|r| r["builtin"] == true));
    assert_eq!(items[3]["name"], "Viewer");
    assert!(items[3]["description"].is_string());
    app.get(&org_path(&org, "/roles"), Some(&outsider.token))
        .await
        .problem(404, "not_found");
    app.get(&org_path(&org, "/roles"), None)
        .await
        .problem(401, "unauthenticated");
    // Authorization before the body: a viewer and an outsider learn
    // nothing from an invalid one.
    create_role(&app, &bob, &org, json!({"key": 1}))
        .await
        .problem(403, "forbidden");
    create_role(&app, &outsider, &org, json!({"key": 1}))
        .await
        .problem(404, "not_found");
    let valid = json!({"key": "analyst", "name": "Analyst", "capabilities": ["view_resources"]});
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let long_key = format!("a{}", "b".repeat(40));
    for (body, field) in [
        (with("key", json!("A1")), "key"),
        (with("key", json!("x")), "key"),
        (with("key", json!("1abc")), "key"),
        (with("key", json!("has space")), "key"),
        (with("key", json!(long_key)), "key"),
        (with("key", json!("admin")), "key"),
        (with("key", json!("owner")), "key"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("n".repeat(61))), "name"),
        (with("name", json!("bad\u{202E}name")), "name"),
        (with("description", json!("d".repeat(501))), "description"),
        (with("capabilities", json!(["nope"])), "capabilities"),
        (
            with("capabilities", json!(["view_resources", "view_resources"])),
            "capabilities",
        ),
        (
            with("capabilities", json!(["manage_reports"])),
            "capabilities",
        ),
        (with("capabilities", json!([])), "capabilities"),
        (
            with("capabilities", json!("view_resources")),
            "capabilities",
        ),
    ] {
        let reply = create_role(&app, &ann, &org, body.clone()).await;
        assert_eq!(invalid_field(reply), field, "{body}");
    }
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("capabilities");
    assert_eq!(
        invalid_field(create_role(&app, &ann, &org, missing).await),
        "capabilities"
    );
    // The owner-only capabilities stay with the owner, even the owner's
    // own custom roles lack them.
    for owner_only in ["delete_organization", "transfer_ownership"] {
        create_role(
            &app,
            &ann,
            &org,
            with("capabilities", json!(["view_resources", owner_only])),
        )
        .await
        .problem(403, "capability_not_grantable");
    }
    // Created: capabilities in the matrix's order, an empty description.
    let created = create_role(
        &app,
        &ann,
        &org,
        with(
            "capabilities",
            json!(["manage_reports", "view_resources", "pin_items"]),
        ),
    )
    .await
    .expect(201)
    .json();
    assert_eq!(created["key"], "analyst");
    assert_eq!(created["name"], "Analyst");
    assert_eq!(created["description"], "");
    assert_eq!(created["builtin"], false);
    assert_eq!(
        strings(&created["capabilities"]),
        ["view_resources", "pin_items", "manage_reports"]
    );
    create_role(&app, &ann, &org, with("name", json!("Another")))
        .await
        .problem(409, "role_key_taken");
    // Up to twenty custom roles; the twenty-first is refused. A second
    // apart each, so that "oldest first" is an order of its own.
    for n in 2..=20 {
        app.clock.advance(chrono::Duration::seconds(1));
        create_role(
            &app,
            &ann,
            &org,
            json!({
                "key": format!("role-{n}"),
                "name": format!("Role {n}"),
                "description": "  A role for the limit  ",
                "capabilities": ["view_resources"],
            }),
        )
        .await
        .expect(201);
    }
    create_role(&app, &ann, &org, with("key", json!("role-21")))
        .await
        .problem(409, "role_limit_reached");
    let roles = app
        .get(&org_path(&org, "/roles?limit=200"), Some(&bob.token))
        .await
        .expect(200)
        .json();
    let keys: Vec<String> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 24);
    assert_eq!(keys[4], "analyst");
    assert_eq!(keys[5], "role-2");
    assert_eq!(keys[23], "role-20");
    assert_eq!(roles["items"][5]["description"], "A role for the limit");
    // Editing: built-in roles are not, unknown ones are missing, a viewer
    // is refused before the body is read.
    let role = |key: &str| org_path(&org, &format!("/roles/{key}"));
    patch(&app, &role("editor"), &ann.token, json!({"name": "Writer"}))
        .await
        .problem(409, "role_builtin");
    patch(&app, &role("ghost"), &ann.token, json!({"name": "Ghost"}))
        .await
        .problem(404, "not_found");
    patch(&app, &role("analyst"), &bob.token, json!({"name": 1}))
        .await
        .problem(403, "forbidden");
    assert_eq!(
        invalid_field(patch(&app, &role("analyst"), &ann.token, json!({"name": ""})).await),
        "name"
    );
    assert_eq!(
        invalid_field(
            patch(
                &app,
                &role("analyst"),
                &ann.token,
                json!({"capabilities": ["pin_items"]})
            )
            .await
        ),
        "capabilities"
    );
    patch(
        &app,
        &role("analyst"),
        &ann.token,
        json!({"capabilities": ["view_resources", "transfer_ownership"]}),
    )
    .await
    .problem(403, "capability_not_grantable");
    let edited = patch(
        &app,
        &role("analyst"),
        &ann.token,
        json!({"name": " Data analyst ", "description": "Reads the numbers"}),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(edited["name"], "Data analyst");
    assert_eq!(edited["description"], "Reads the numbers");
    assert_eq!(
        strings(&edited["capabilities"]),
        ["view_resources", "pin_items", "manage_reports"]
    );
    // Deleting: built-in roles are not, unknown ones are missing.
    delete(&app, &role("viewer"), &ann.token)
        .await
        .problem(409, "role_builtin");
    delete(&app, &role("ghost"), &ann.token)
        .await
        .problem(404, "not_found");
    delete(&app, &role("analyst"), &bob.token)
        .await
        .problem(403, "forbidden");
    delete(&app, &role("analyst"), &outsider.token)
        .await
        .problem(404, "not_found");
    delete(&app, &role("analyst"), &ann.token).await.expect(204);
    delete(&app, &role("analyst"), &ann.token)
        .await
        .problem(404, "not_found");
    // The freed place takes a new role.
    create_role(&app, &ann, &org, with("key", json!("role-21")))
        .await
        .expect(201);
    // A member with `manage_roles` but not `manage_reports` can neither
    // create, edit nor delete a role that holds it.
    create_role(
        &app,
        &ann,
        &org,
        json!({"key": "reporter", "name": "Reporter", "capabilities": ["view_resources", "manage_reports"]}),
    )
    .await
    .problem(409, "role_limit_reached");
    delete(&app, &role("role-20"), &ann.token).await.expect(204);
    create_role(
        &app,
        &ann,
        &org,
        json!({"key": "reporter", "name": "Reporter", "capabilities": ["view_resources", "manage_reports"]}),
    )
    .await
    .expect(201);
    delete(&app, &role("role-19"), &ann.token).await.expect(204);
    create_role(
        &app,
        &ann,
        &org,
        json!({"key": "role-admin", "name": "Role admin", "capabilities": ["view_resources", "manage_roles", "manage_members"]}),
    )
    .await
    .expect(201);
    let rita = app
        .member_as(&ann, &org, "rita@example.com", "role-admin")
        .await;
    create_role(
        &app,
        &rita,
        &org,
        json!({"key": "builder", "name": "Builder", "capabilities": ["view_resources", "manage_agents"]}),
    )
    .await
    .problem(403, "capability_not_grantable");
    patch(&app, &role("reporter"), &rita.token, json!({"name": "R"}))
        .await
        .problem(403, "capability_not_grantable");
    patch(
        &app,
        &role("role-2"),
        &rita.token,
        json!({"capabilities": ["view_resources", "manage_reports"]}),
    )
    .await
    .problem(403, "capability_not_grantable");
    delete(&app, &role("reporter"), &rita.token)
        .await
        .problem(403, "capability_not_grantable");
    patch(
        &app,
        &role("role-2"),
        &rita.token,
        json!({"capabilities": ["view_resources", "manage_members"]}),
    )
    .await
    .expect(200);
    delete(&app, &role("role-3"), &rita.token).await.expect(204);
}

async fn a_role_in_use_is_deleted_only_by_moving_its_holders(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let org = ann.org.clone();
    for key in ["analyst", "spare"] {
        create_role(
            &app,
            &ann,
            &org,
            json!({"key": key, "name": key, "capabilities": ["view_resources", "manage_reports"]}),
        )
        .await
        .expect(201);
    }
    let role = |key: &str| org_path(&org, &format!("/roles/{key}"));
    // A pending invitation holds the role.
    let (pending, _) = app
        .invite_as(&ann, &org, "erin@example.com", Some("analyst"))
        .await;
    delete(&app, &role("analyst"), &ann.token)
        .await
        .problem(409, "role_in_use");
    // So does a member.
    let gus = app
        .member_as(&ann, &org, "gus@example.com", "analyst")
        .await;
    delete(&app, &role("analyst"), &ann.token)
        .await
        .problem(409, "role_in_use");
    // `reassign_to` names another role that can be given.
    for to in ["owner", "analyst", "ghost", "Not A Key"] {
        let reply = delete(
            &app,
            &format!("{}?reassign_to={}", role("analyst"), to.replace(' ', "%20")),
            &ann.token,
        )
        .await;
        assert_eq!(invalid_field(reply), "reassign_to", "{to}");
    }
    delete(
        &app,
        &format!("{}?reassign_to=spare", role("analyst")),
        &ann.token,
    )
    .await
    .expect(204);
    // The member and the invitation moved, in the same transaction.
    assert_eq!(member_role(&app, &ann, &org, &gus).await["role"], "spare");
    let seen = app
        .get(&org_path(&org, ""), Some(&gus.token))
        .await
        .expect(200)
        .json();
    assert_eq!(seen["role"], "spare");
    assert!(strings(&seen["capabilities"]).contains(&"manage_reports".to_owned()));
    let invitations = app
        .get(&org_path(&org, "/invitations"), Some(&ann.token))
        .await
        .expect(200)
        .json();
    let invitation = invitations["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == pending.as_str())
        .unwrap()
        .clone();
    assert_eq!(invitation["role"], "spare");
    let keys: Vec<String> = app
        .get(&org_path(&org, "/roles"), Some(&ann.token))
        .await
        .expect(200)
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["owner", "admin", "editor", "viewer", "spare"]);
    // To a built-in role as well.
    delete(
        &app,
        &format!("{}?reassign_to=viewer", role("spare")),
        &ann.token,
    )
    .await
    .expect(204);
    assert_eq!(member_role(&app, &ann, &org, &gus).await["role"], "viewer");
    app.post(
        &org_path(&org, "/reports"),
        Some(&gus.token),
        json!({"name": "Daily", "definition": {}}),
    )
    .await
    .problem(403, "forbidden");
}

async fn a_custom_roles_new_capabilities_apply_on_the_next_request(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let org = ann.org.clone();
    create_role(
        &app,
        &ann,
        &org,
        json!({"key": "builder", "name": "Builder", "description": "Builds agents", "capabilities": ["view_resources"]}),
    )
    .await
    .expect(201);
    let gina = app
        .member_as(&ann, &org, "gina@example.com", "builder")
        .await;
    let seen = app
        .get(&org_path(&org, ""), Some(&gina.token))
        .await
        .expect(200)
        .json();
    assert_eq!(seen["role"], "builder");
    assert_eq!(seen["role_name"], "Builder");
    assert_eq!(strings(&seen["capabilities"]), ["view_resources"]);
    create_agent(&app, &gina, &org)
        .await
        .problem(403, "forbidden");
    let builder = org_path(&org, "/roles/builder");
    patch(
        &app,
        &builder,
        &ann.token,
        json!({"capabilities": ["view_resources", "manage_agents"]}),
    )
    .await
    .expect(200);
    create_agent(&app, &gina, &org).await.expect(201);
    let seen = app
        .get(&org_path(&org, ""), Some(&gina.token))
        .await
        .expect(200)
        .json();
    assert_eq!(
        strings(&seen["capabilities"]),
        ["view_resources", "manage_agents"]
    );
    // The host's hot path sees the custom role too.
    let answer = app
        .post(
            "/v1/authorize",
            Some(SERVICE_TOKEN),
            json!({"user_id": gina.id, "organization_id": org, "capability": "manage_agents"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(answer, json!({"allowed": true, "role": "builder"}));
    // Taken away: refused on the next request.
    patch(
        &app,
        &builder,
        &ann.token,
        json!({"capabilities": ["view_resources"]}),
    )
    .await
    .expect(200);
    create_agent(&app, &gina, &org)
        .await
        .problem(403, "forbidden");
    let answer = app
        .post(
            "/v1/authorize",
            Some(SERVICE_TOKEN),
            json!({"user_id": gina.id, "organization_id": org, "capability": "manage_agents"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(answer, json!({"allowed": false, "role": "builder"}));
    // A renamed role is renamed for its holders.
    patch(&app, &builder, &ann.token, json!({"name": "Agent builder"}))
        .await
        .expect(200);
    let switcher = app
        .get("/v1/me/active-organization", Some(&gina.token))
        .await
        .expect(200)
        .json();
    assert_eq!(switcher["organization"]["role"], "builder");
    assert_eq!(switcher["organization"]["role_name"], "Agent builder");
    assert_eq!(switcher["organization"]["status"], "active");
}

async fn invitations_carry_any_assignable_role(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let org = ann.org.clone();
    let invitations = org_path(&org, "/invitations");
    // No role: `viewer`.
    let plain = app
        .post(
            &invitations,
            Some(&ann.token),
            json!({"email": "vic@example.com", "role": null}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(plain["role"], "viewer");
    // `editor`: in the invitation, its landing page, and the membership.
    let (id, token) = app
        .invite_as(&ann, &org, "ed@example.com", Some("editor"))
        .await;
    let preview = app
        .get(&format!("/v1/invitations/{token}"), None)
        .await
        .expect(200)
        .json();
    assert_eq!(preview["role"], "editor");
    let listed = app
        .get(&invitations, Some(&ann.token))
        .await
        .expect(200)
        .json();
    let listed = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["role"], "editor");
    let ed = app.sign_up("ed@example.com").await;
    let accepted = app
        .post(
            "/v1/invitations/accept",
            Some(&ed.token),
            json!({"token": token}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(accepted["organization"]["id"], org.as_str());
    assert_eq!(accepted["organization"]["role"], "editor");
    assert_eq!(accepted["organization"]["role_name"], "Editor");
    assert_eq!(accepted["organization"]["is_owner"], false);
    assert_eq!(accepted["organization"]["is_active"], true);
    create_agent(&app, &ed, &org).await.expect(201);
    // A custom role, and sign-up from the link.
    create_role(
        &app,
        &ann,
        &org,
        json!({"key": "reader", "name": "Reader", "capabilities": ["view_resources", "chat_with_agents"]}),
    )
    .await
    .expect(201);
    let (_, token) = app
        .invite_as(&ann, &org, "rae@example.com", Some("reader"))
        .await;
    let rae = app
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "rae@example.com", "password": "hunter2hunter2", "invitation_token": token}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(rae["invitation"]["status"], "accepted");
    assert_eq!(rae["default_organization"]["role"], "owner");
    assert_eq!(rae["default_organization"]["role_name"], "Owner");
    assert_eq!(
        rae["default_organization"]["capabilities"]
            .as_array()
            .unwrap()
            .len(),
        19
    );
    let seen = app
        .get(&org_path(&org, ""), Some(rae["token"].as_str().unwrap()))
        .await
        .expect(200)
        .json();
    assert_eq!(seen["role"], "reader");
    assert_eq!(seen["role_name"], "Reader");
    assert_eq!(
        strings(&seen["capabilities"]),
        ["view_resources", "chat_with_agents"]
    );
    // Never the owner's role, nor one the organization lacks.
    for role in ["owner", "ghost", "Not a key"] {
        app.post(
            &invitations,
            Some(&ann.token),
            json!({"email": "zed@example.com", "role": role}),
        )
        .await
        .problem(403, "role_not_assignable");
    }
    assert_eq!(
        invalid_field(
            app.post(
                &invitations,
                Some(&ann.token),
                json!({"email": "zed@example.com", "role": 7}),
            )
            .await
        ),
        "role"
    );
}
