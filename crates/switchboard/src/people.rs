//! `switchboard people`: the console's people, through the running daemon's
//! `/admin/v1/People` with its own REST credentials (the daemon holds the data folder's lock,
//! and adding a person also makes their Chat user and worker, which the daemon's engine does).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::dev::daemon::Connection;
use crate::dev::ConnectArgs;

#[derive(Subcommand)]
pub enum PeopleCommand {
    /// Add a person (and their Chat user and TaskRouter worker); prints a one-time link that
    /// sets their password. Adding the same person again completes an interrupted add.
    Add(AddArgs),
    /// List the people.
    List(ConnectArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// agent, supervisor or admin.
    #[arg(long, value_parser = ["agent", "supervisor", "admin"])]
    role: String,
    /// Their username (a-z, 0-9, `.`, `_`, `-`, `@`): also their chat identity and worker name.
    username: String,
    #[command(flatten)]
    connect: ConnectArgs,
}

pub fn run(command: PeopleCommand) -> anyhow::Result<ExitCode> {
    match command {
        PeopleCommand::Add(args) => add(&args),
        PeopleCommand::List(args) => list(&args),
    }
}

fn add(args: &AddArgs) -> anyhow::Result<ExitCode> {
    let daemon = Connection::open(&args.connect)?;
    let form = [("Username", args.username.as_str()), ("Role", args.role.as_str())];
    let person = daemon.post_form("/admin/v1/People", &form)?;
    println!("{}", line(&person));
    match person["set_password_url"].as_str() {
        Some(link) => println!("set-password link (works once, for 72 hours): {link}"),
        None => println!("their password is set already"),
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: &ConnectArgs) -> anyhow::Result<ExitCode> {
    let daemon = Connection::open(args)?;
    let people = daemon.get("/admin/v1/People")?;
    for person in people["people"].as_array().into_iter().flatten() {
        println!("{}", line(person));
    }
    Ok(ExitCode::SUCCESS)
}

/// One person on a line: SID, username, role, chat user, worker.
fn line(person: &Value) -> String {
    let text = |name: &str| person[name].as_str().unwrap_or("-").to_owned();
    format!(
        "{}  {}  {}  chat user {}  worker {}",
        text("sid"),
        text("username"),
        text("role"),
        text("user_sid"),
        text("worker_sid")
    )
}
