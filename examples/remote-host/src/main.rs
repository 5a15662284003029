//! A host that runs beside tenancy rather than embedding it (compare `examples/host`): before it
//! acts for a user in an organization, it asks a running `tenancy serve` with `POST /v1/authorize`,
//! authenticated with the service token, through the generated client `tenancy-client`.
//!
//! ```sh
//! tenancy serve --service-token "$TOKEN" &
//! TENANCY_URL=http://127.0.0.1:8080 TENANCY_SERVICE_TOKEN="$TOKEN" \
//!   cargo run -p tenancy-example-remote-host -- USER_ID ORGANIZATION_ID view_resources
//! ```
//!
//! It prints `allowed` or `denied`, with the user's role when they have one, and exits with 0 when
//! allowed, 1 when denied and 2 when it could not ask (with the reason on stderr).
//! A real host would make the same call in its request handlers, with one client for all of them.

use std::process::ExitCode;

use clap::Parser;
use tenancy_client::types::AuthorizeRequest;
use uuid::Uuid;

/// Asks tenancy whether a user may use a capability in an organization.
#[derive(Debug, Parser)]
struct Args {
    /// The base URL of `tenancy serve`, without `/v1`.
    #[arg(long, env = "TENANCY_URL")]
    url: String,
    /// The token given to `tenancy serve --service-token`; prefer the environment variable,
    /// which other users of the machine cannot read from the process list.
    #[arg(long, env = "TENANCY_SERVICE_TOKEN", hide_env_values = true)]
    service_token: String,
    user_id: Uuid,
    organization_id: Uuid,
    /// A capability name, as in docs/permissions.md (`view_resources`, `manage_members`, ...).
    capability: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match ask(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(reason) => {
            eprintln!("cannot ask tenancy: {reason}");
            ExitCode::from(2)
        }
    }
}

/// Whether the user is allowed, printed as the answer.
async fn ask(args: &Args) -> Result<bool, String> {
    let client = tenancy_client::with_bearer(&args.url, &args.service_token)
        .map_err(|error| error.to_string())?;
    // The document lists the capabilities, so an unknown one is refused
    // here, before any request.
    let capability = args
        .capability
        .parse()
        .map_err(|_| format!("`{}` is not a capability of tenancy's API", args.capability))?;
    let request = AuthorizeRequest {
        capability,
        organization_id: args.organization_id,
        user_id: args.user_id,
    };
    let answer = client
        .authorize(&request)
        .await
        .map_err(|error| match tenancy_client::problem(&error) {
            Some(problem) => format!("{} {}: {}", problem.status, problem.code, problem.detail),
            None => error.to_string(),
        })?
        .into_inner();
    let verdict = if answer.allowed { "allowed" } else { "denied" };
    match answer.role {
        Some(role) => println!("{verdict} (role {role})"),
        None => println!("{verdict} (not a member)"),
    }
    Ok(answer.allowed)
}
