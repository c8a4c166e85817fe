//! What a first start makes so that a person can chat at once: a default Chat service (keeping
//! users' reachability, so that the widget and the console show who is there) and an enabled web
//! flow on it, whose widget the demo page at `/` carries, and the TaskRouter
//! workspace Flex works with. "First" means the folder holds no Chat service and no Flex Flow
//! yet (for the workspace: has never held one, so a folder from before TaskRouter gets it once);
//! `first_start_defaults = false` turns it off. With them comes the console's first admin,
//! made when the folder has no person yet, whose password is printed once on stdout (never to
//! the log), as the REST credentials are.

use anyhow::Context;
use switchboard_actors::Engine;
use switchboard_domain::{
    ChannelType, FlowConfig, Integration, IntegrationType, PersonCommand, PersonRole, Sid,
};
use switchboard_routing::workspace::{named_settings, Template};

/// Makes the defaults the folder does not have yet, and says so in the log.
pub async fn make_defaults(engine: &Engine) -> anyhow::Result<()> {
    make_workspace(engine).await?;
    if !engine.services().list().is_empty() || !engine.flows().list().is_empty() {
        return Ok(());
    }
    let at = engine.now();
    let service = engine
        .services()
        .create("Default Chat Service".to_owned(), at)
        .await
        .context("making the default Chat service")?;
    // Twilio's default is off, and a service made over the API keeps it; this one is the daemon's
    // own, made for its widget and console, which show who is there only with it on.
    engine
        .services()
        .update(service.sid, None, None, Some(true), at)
        .await
        .context("keeping users' reachability in the default Chat service")?;
    let config = FlowConfig {
        friendly_name: "Webchat".to_owned(),
        chat_service_sid: service.sid,
        channel_type: ChannelType::Web,
        contact_identity: None,
        enabled: true,
        integration_type: IntegrationType::Task,
        integration: Integration::default(),
        long_lived: false,
        janitor_enabled: true,
    };
    let flow = engine
        .flows()
        .create(config, at)
        .await
        .context("making the default web flow")?
        .map_err(|rejection| anyhow::anyhow!("making the default web flow: {rejection}"))?;
    tracing::info!(
        service_sid = %service.sid,
        flow_sid = %flow.sid,
        "first start: made a default Chat service and an enabled web Flex Flow; the demo page \
         at / carries its webchat widget"
    );
    // Also for the person at the terminal, whatever the log's level.
    eprintln!(
        "first start: made the Chat service {} and the web Flex Flow {} (enabled); open the \
         demo page at / to chat",
        service.sid, flow.sid
    );
    Ok(())
}

/// The workspace Flex is set up with: "Flex Task Assignment", its activities, task channels, the
/// queue "Everyone" and the workflow "Assign to Anyone".
async fn make_workspace(engine: &Engine) -> anyhow::Result<()> {
    if !engine.workspaces().never_had_any() {
        return Ok(());
    }
    let settings = named_settings("Flex Task Assignment");
    let workspace = engine
        .workspaces()
        .create(settings, Template::Flex, engine.now())
        .await
        .context("making the default TaskRouter workspace")?
        .map_err(|rejection| anyhow::anyhow!("making the default workspace: {rejection}"))?;
    let sid = workspace.sid.map(|sid| sid.to_string()).unwrap_or_default();
    tracing::info!(workspace_sid = %sid, "first start: made the TaskRouter workspace Flex uses");
    eprintln!("first start: made the TaskRouter workspace {sid} (\"Flex Task Assignment\")");
    Ok(())
}

/// The username of the admin a first start makes.
pub const FIRST_ADMIN: &str = "admin";

/// Makes the console's first admin, with a random password shown this once, when the folder
/// holds no person yet.
pub async fn make_first_admin(
    engine: &Engine,
    account: Sid,
    public_url: &str,
) -> anyhow::Result<()> {
    if !engine.people().is_empty() {
        return Ok(());
    }
    // Not a reason to refuse to start: the operator can add an admin with the CLI.
    let (person, _) = match engine.add_person(account, FIRST_ADMIN, PersonRole::Admin).await {
        Ok(added) => added,
        Err(error) => {
            tracing::warn!(%error, "first start: no console admin made; add one with `switchboard people add --role admin NAME`");
            return Ok(());
        }
    };
    let sid = person.sid.context("the first admin has no SID")?;
    let password = switchboard_crypto::password::random_secret()[..24].to_owned();
    let hash = switchboard_crypto::password::hash_password(&password);
    engine
        .people()
        .execute(sid, vec![PersonCommand::SetPassword { hash }], engine.now())
        .await
        .context("setting the first admin's password")?
        .map_err(|rejection| anyhow::anyhow!("setting the first admin's password: {rejection}"))?;
    tracing::info!(person_sid = %sid, "first start: made the console's first admin");
    println!("switchboard created the console's first admin; the password is shown this once:");
    println!("  console username: {FIRST_ADMIN}");
    println!("  console password: {password}");
    println!("  sign in at:       {public_url}/console");
    Ok(())
}
