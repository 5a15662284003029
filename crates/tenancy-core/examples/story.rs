//! The seed's story, told through the core's use cases over the in-memory
//! repository: sign up, create an organization, invite, accept from the link,
//! hit a quota, connect a warehouse, chat, let the host use the connection on
//! a viewer's behalf, remove the viewer and watch their access end.
//!
//! Run it with `cargo run -p tenancy-core --example story`.

use chrono::{DateTime, Duration};
use futures::executor::block_on;
use tenancy_core::decide::{AccountMail, PlanChanger};
use tenancy_core::plan::PlanId;
use tenancy_core::resource::{
    ConnectionType, Credentials, Description, Details, NewResource, ResourceKind, ResourceName,
    Text,
};
use tenancy_core::service::{ChatRequest, OrganizationView, Service, Settings};
use tenancy_core::testing::MemoryRepository;
use tenancy_core::testing::fakes::{CountingTokens, ManualClock, SequentialIds};
use tenancy_core::value::{DisplayName, EmailAddress, OrganizationName, PasswordHash};
use tenancy_core::{Capability, Error, ResourceId, UserId};
use zeroize::Zeroizing;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    block_on(story())
}

fn switcher(views: &[OrganizationView]) -> String {
    views
        .iter()
        .map(|v| {
            let crown = if v.is_owner() { "👑 " } else { "" };
            let badge = if v.is_owner() {
                String::new()
            } else {
                format!(" [{}]", v.role)
            };
            let check = if v.is_active { " ✓" } else { "" };
            format!("    {crown}{}{badge}{check}", v.organization.name)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn story() -> Result<(), Box<dyn std::error::Error>> {
    let repository = MemoryRepository::new();
    let clock = ManualClock::at(DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default());
    let tenancy = Service::new(
        repository.clone(),
        clock.clone(),
        SequentialIds::default(),
        CountingTokens::default(),
        Settings::default(),
    );
    let hash = || PasswordHash::new("$argon2id$(hashed by the host)".to_owned());

    println!("1. Ann signs up; a default organization is created for her.");
    let ann = tenancy
        .sign_up(
            EmailAddress::parse("ann@example.com")?,
            Some(DisplayName::parse("Ann")?),
            hash(),
            None,
            AccountMail::Send,
        )
        .await?;
    println!(
        "   {} owns {:?}",
        ann.user.email,
        ann.default_organization.name.as_str()
    );
    let ann_id = ann.user.id;

    println!("   She opens the link of her verification email: inviting needs a verified address.");
    let verification = repository
        .mails()
        .pop()
        .ok_or("the verification email is missing")?;
    let link = verification
        .content
        .token()
        .ok_or("the verification email has no link")?;
    let verified = tenancy.verify_email(link.expose()).await?;
    println!(
        "   {} verified: {}",
        verified.email, verified.email_verified
    );

    println!("2. Ann creates another organization and is switched to it.");
    let acme = tenancy
        .create_organization(ann_id, OrganizationName::parse("Acme Analytics")?)
        .await?;
    let acme_id = acme.organization.id;
    println!("{}", switcher(&tenancy.organizations(ann_id).await?));

    println!("3. Ann invites Bob by email; the email waits in the outbox.");
    let invitation = tenancy
        .invite(
            ann_id,
            acme_id,
            EmailAddress::parse(" Bob@Example.com ")?,
            None,
        )
        .await?;
    println!(
        "   invitation for {} as {}, expires {}",
        invitation.email, invitation.role, invitation.expires_at
    );
    let mail = repository
        .mails()
        .pop()
        .ok_or("the invitation email is missing")?
        .render("http://127.0.0.1:8080");
    println!("   Subject: {}", mail.subject);
    let link = mail
        .text
        .lines()
        .find_map(|line| line.strip_prefix("Accept Invitation: "))
        .ok_or("the email has no link")?;
    println!("   Link: {link}");
    let token = link.rsplit('/').next().unwrap_or_default();

    println!("4. Bob has no account: he signs up from the link and the invitation is accepted.");
    let bob = tenancy
        .sign_up(
            EmailAddress::parse("bob@example.com")?,
            None,
            hash(),
            Some(token),
            AccountMail::Send,
        )
        .await?;
    let bob_id = bob.user.id;
    println!("   invitation: {:?}", bob.invitation);
    println!("{}", switcher(&tenancy.organizations(bob_id).await?));

    println!("5. Bob is a viewer: settings are not for him.");
    report(
        tenancy
            .invite(
                bob_id,
                acme_id,
                EmailAddress::parse("eve@example.com")?,
                None,
            )
            .await,
    );
    report(tenancy.billing(bob_id, acme_id).await);

    println!("6. Acme is on the free plan: three agents, then the quota says no.");
    for n in 1..=4 {
        report(
            tenancy
                .create_resource(ann_id, acme_id, agent(&format!("Agent {n}"), vec![])?)
                .await,
        );
    }
    println!("   Ann upgrades Acme to pro and connects the warehouse; the fourth agent uses it.");
    tenancy
        .change_plan(PlanChanger::Member(ann_id), acme_id, PlanId::new("pro"))
        .await?;
    let credentials = Credentials::parse([
        ("user".to_owned(), Zeroizing::new("reporting".to_owned())),
        (
            "password".to_owned(),
            Zeroizing::new("correct horse battery staple".to_owned()),
        ),
    ])?;
    let warehouse = tenancy
        .create_resource(
            ann_id,
            acme_id,
            NewResource::Connection {
                label: ResourceName::parse("Warehouse")?,
                connection_type: ConnectionType::parse("postgres")?,
                credentials,
            },
        )
        .await?;
    let cost_bot = tenancy
        .create_resource(ann_id, acme_id, agent("Cost bot", vec![warehouse.id])?)
        .await?;
    println!(
        "   {} uses {} connection(s); usage: {:?}",
        cost_bot.name,
        cost_bot.connection_ids().len(),
        tenancy.billing(ann_id, acme_id).await?.usage
    );

    println!("7. Bob sees the connection, but not its secrets, and may not add one.");
    for connection in tenancy
        .resources(bob_id, acme_id, ResourceKind::Connection)
        .await?
        .value
    {
        if let Details::Connection(details) = &connection.details {
            println!(
                "   {} ({}), credentials set: {}",
                connection.name,
                details.connection_type.as_str(),
                details.credentials_updated_at.is_some()
            );
        }
    }
    let his_own = NewResource::Connection {
        label: ResourceName::parse("Bob's warehouse")?,
        connection_type: ConnectionType::parse("postgres")?,
        credentials: Credentials::parse([(
            "password".to_owned(),
            Zeroizing::new("hunter2".to_owned()),
        )])?,
    };
    report(tenancy.create_resource(bob_id, acme_id, his_own).await);

    println!("8. Bob chats with the agent; the host answers with Bob's grant.");
    let chat = tenancy
        .open_chat(bob_id, acme_id, ChatRequest::Agent(cost_bot.id))
        .await?;
    report(
        tenancy
            .send_chat_message(
                bob_id,
                acme_id,
                chat.id,
                Text::parse("Why did costs spike?")?,
            )
            .await,
    );
    let grant = tenancy
        .authorize(bob_id, acme_id, Capability::ChatWithAgents)
        .await?
        .map_err(Error::from)?;
    // The host reads the credentials in-process to query the warehouse; only
    // their names are shown here, never their values.
    let opened = tenancy.connection_credentials(&grant, warehouse.id).await?;
    println!(
        "   the host opens the warehouse's credentials for Bob: {}",
        opened.names().collect::<Vec<_>>().join(", ")
    );

    println!("9. Ann removes Bob; his very next message is refused, and his sidebar falls back.");
    tenancy.remove_member(ann_id, acme_id, bob_id).await?;
    report(
        tenancy
            .send_chat_message(bob_id, acme_id, chat.id, Text::parse("Hello?")?)
            .await,
    );
    println!("   The grant the host still holds opens nothing any more:");
    report(tenancy.connection_credentials(&grant, warehouse.id).await);
    let active = tenancy.active_organization(bob_id).await?;
    println!("   Bob's active organization: {}", active.organization.name);
    println!("{}", switcher(&tenancy.organizations(bob_id).await?));

    println!("10. His old link does not let him back in, even before it expires.");
    report(tenancy.accept(bob_id, token).await);
    println!(
        "   Bob's own organization is untouched: {}",
        members(&tenancy, bob_id).await?
    );
    println!("   Ann's: {}", members(&tenancy, ann_id).await?);
    println!("11. An invitation nobody uses expires after 7 days.");
    let cy = EmailAddress::parse("cy@example.com")?;
    tenancy.invite(ann_id, acme_id, cy, None).await?;
    let pending = || tenancy.pending_invitations(ann_id, acme_id);
    println!("   pending today: {}", pending().await?.value.len());
    clock.advance(Duration::days(7));
    println!("   pending 7 days later: {}", pending().await?.value.len());
    Ok(())
}

fn agent(
    name: &str,
    connection_ids: Vec<ResourceId>,
) -> Result<NewResource, Box<dyn std::error::Error>> {
    Ok(NewResource::Agent {
        name: ResourceName::parse(name)?,
        description: Description::parse("Answers questions about cloud costs")?,
        connection_ids,
    })
}

async fn members(
    tenancy: &Service<MemoryRepository, ManualClock, SequentialIds, CountingTokens>,
    user: UserId,
) -> Result<String, Error> {
    let mut out = Vec::new();
    for view in tenancy.organizations(user).await? {
        let count = tenancy.members(user, view.organization.id).await?.len();
        out.push(format!("{} ({count} members)", view.organization.name));
    }
    Ok(out.join(", "))
}

fn report<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Ok(_) => println!("   ok"),
        Err(error) => println!("   refused: {} ({error})", error.code()),
    }
}
